/**
 * `crosstrace/wasm`: the package's WebAssembly binary, for `ready()`. What importing it gives is
 * the bundler's loader for `.wasm`: a URL string with esbuild's `--loader:.wasm=file` (declared
 * here); a compiled WebAssembly.Module on Cloudflare Workers and Vercel Edge (cast it).
 */
declare const wasmUrl: string;
export default wasmUrl;
