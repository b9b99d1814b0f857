// Registers every CPU backend: 'wasm' (the default) and 'ts' (the reference). Entry points import this module.
import './ts/index.js';
import './wasm/index.js';
