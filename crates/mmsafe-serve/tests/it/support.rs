use async_trait::async_trait;
use mmsafe_core::{Layer, Request, Response};
use mmsafe_guard::{Check, CheckLayer, Decision, GuardError, GuardOptions};
use mmsafe_serve::{Limits, Running, Secret, ServeConfig};
use mmsafe_target::{build_http_target, with_ops, CacheMode, TargetOptions};
use mmsafe_testkit::{MockConfig, MockServer};
use std::sync::Arc;

/// Blocks requests mentioning "bomb"; withholds answers containing "SECRET".
pub struct Rules;

#[async_trait]
impl Check for Rules {
    fn name(&self) -> &str {
        "rules"
    }
    fn checks_response(&self) -> bool {
        true
    }
    async fn on_request(&self, req: &Request) -> Result<Decision<Request>, GuardError> {
        if req.prompt_text().contains("explode") {
            return Err(GuardError::new("rules", "classifier unavailable"));
        }
        Ok(if req.prompt_text().contains("bomb") {
            Decision::block("mentions a bomb")
        } else {
            Decision::pass("ok")
        })
    }
    async fn on_response(
        &self,
        _: &Request,
        resp: &Response,
    ) -> Result<Decision<Response>, GuardError> {
        Ok(if resp.text.contains("SECRET") {
            Decision::block("leaks a secret")
        } else {
            Decision::pass("ok")
        })
    }
}

pub fn layers(with_prompt: bool) -> Arc<dyn Layer> {
    let mut ls: Vec<Arc<dyn Layer>> = vec![Arc::new(CheckLayer::new(
        Arc::new(Rules),
        GuardOptions::default(),
    ))];
    if with_prompt {
        ls.push(Arc::new(CheckLayer::new(
            Arc::new(mmsafe_guard::layers::prompt_static::PromptStatic::default()),
            GuardOptions::default(),
        )));
    }
    Arc::new(Stack(ls))
}

struct Stack(Vec<Arc<dyn Layer>>);
impl Layer for Stack {
    fn name(&self) -> &str {
        "test-policy"
    }
    fn layer(&self, inner: mmsafe_core::DynTarget) -> mmsafe_core::DynTarget {
        mmsafe_core::target::stack(&self.0, inner)
    }
}

pub fn target_opts() -> TargetOptions {
    TargetOptions {
        cache: CacheMode::Off,
        max_retries: 0,
        timeout: std::time::Duration::from_secs(5),
        ..TargetOptions::default()
    }
}

pub fn config(upstream_url: &str, guard: Option<Arc<dyn Layer>>) -> ServeConfig {
    let url = upstream_url.to_string();
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        guard,
        policy_name: "test-policy".into(),
        upstream: Arc::new(move |model: &str| {
            let t = build_http_target(&format!("openai-compatible:{url}#{model}"), &target_opts())
                .map_err(|e| e.to_string())?;
            Ok(with_ops(t, &target_opts()))
        }),
        upstream_url: upstream_url.to_string(),
        upstream_key: None,
        api_keys: Vec::new(),
        limits: Limits::default(),
        image_hosts: Vec::new(),
        audit_path: None,
    }
}

pub struct Pair {
    pub upstream: MockServer,
    pub proxy: Running,
}

pub async fn pair(mock: MockConfig, edit: impl FnOnce(&mut ServeConfig)) -> Pair {
    let upstream = MockServer::start(mock.record_requests(true)).await.unwrap();
    let mut cfg = config(&upstream.base_url(), Some(layers(false)));
    edit(&mut cfg);
    let proxy = mmsafe_serve::start(cfg).await.unwrap();
    Pair { upstream, proxy }
}

pub fn key(s: &str) -> Secret {
    Secret(s.to_string())
}
