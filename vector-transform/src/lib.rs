//! Starform log label-set transform. Pure core below; the ABI exports are
//! compiled only for wasm32.
