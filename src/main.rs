fn main() {
    println!("{} {}", starform_wasm::modules::ENVOY_FILTER.len(), starform_wasm::modules::VECTOR_TRANSFORM.len());
}
