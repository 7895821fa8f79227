//! The wasm floor for `bench/`: a root context that creates an HTTP context
//! per request and an HTTP context that implements no callback. Envoy still
//! creates the context and calls every `proxy_on_*` export the SDK defines,
//! so this is what any proxy-wasm filter costs before it does any work.
//! Never shipped; built only by `bench/run.sh`.

#[cfg(target_arch = "wasm32")]
mod filter {
    use proxy_wasm::traits::{Context, HttpContext, RootContext};
    use proxy_wasm::types::ContextType;

    proxy_wasm::main! {{
        proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
    }}

    struct Root;

    impl Context for Root {}

    impl RootContext for Root {
        fn get_type(&self) -> Option<ContextType> {
            Some(ContextType::HttpContext)
        }

        fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
            Some(Box::new(Nothing))
        }
    }

    struct Nothing;

    impl Context for Nothing {}

    impl HttpContext for Nothing {}
}
