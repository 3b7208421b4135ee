//! Errors of guard layers and policy files.

/// A guard layer could not decide (model missing, classifier failed, image
/// undecodable). Under the default fail-closed policy the request fails with
/// `TargetErrorKind::Guard`; with `fail_open` it passes and the error is recorded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("guard layer `{layer}`: {message}")]
pub struct GuardError {
    pub layer: String,
    pub message: String,
}

impl GuardError {
    pub fn new(layer: impl Into<String>, message: impl Into<String>) -> GuardError {
        GuardError {
            layer: layer.into(),
            message: message.into(),
        }
    }

    /// The same failure, reported under the layer that ran into it: a
    /// classifier inside `classify:input` fails as `classify:input`, so the
    /// event, header and metrics name a layer of the policy (the component
    /// that failed stays in the message).
    pub fn in_layer(self, layer: &str) -> GuardError {
        if self.layer == layer {
            return self;
        }
        GuardError {
            message: format!("{}: {}", self.layer, self.message),
            layer: layer.to_string(),
        }
    }
}

/// A policy file or preset could not be read or compiled.
#[derive(Debug, Clone, thiserror::Error)]
#[error("policy {origin}: {message}")]
pub struct PolicyError {
    /// The file path or preset name.
    pub origin: String,
    pub message: String,
}

impl PolicyError {
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> PolicyError {
        PolicyError {
            origin: origin.into(),
            message: message.into(),
        }
    }
}
