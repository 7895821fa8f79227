//! Starform L7 identity filter (proxy-wasm). Pure core below; the proxy-wasm
//! glue is compiled only for wasm32.
