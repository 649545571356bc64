// `crosstrace/edge`: the API of the package's entry points, on the full build (see edge.js).
export * from './index.js';
