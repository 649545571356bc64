// composecheck loads a Compose file as `docker compose config` does, with compose-go (the library
// the docker compose CLI is built on): the Compose Specification's JSON schema, interpolation,
// normalisation, relative paths resolved from the file's directory, and the consistency checks
// (every depends_on, network_mode service:..., volume and network names something defined). No
// Docker engine is needed. It prints the resolved project as JSON, which scripts/deploy_check.sh
// checks further (deploy/check/checks.py).
//
//	composecheck deploy/compose.yaml > project.json
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck COMPOSE_FILE")
		os.Exit(2)
	}
	file, err := filepath.Abs(os.Args[1])
	if err != nil {
		fail(err)
	}
	// Only the file itself: no .env, no COMPOSE_* or other variables from this environment.
	options, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "composecheck:", err)
	os.Exit(1)
}
