//! `template:<name>`: wrap the prompt in a jailbreak template from the template
//! library (data files, see `templates.rs`). Images of the prompt are kept, so
//! a template composes with image attacks in either order.

use crate::common::{self, derive, last_user_images, param, source_text, TextSource};
use crate::spec::{AttackSpec, BuildCtx};
use crate::templates::{Template, TemplateLibrary};
use async_trait::async_trait;
use mmsafe_core::{Attack, AttackError, Case, DynAttack, Message, ParamSpec, Params, Part, Role};
use std::borrow::Cow;
use std::sync::Arc;

const PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "text",
        "prompt",
        "text put into {prompt}: prompt, question, instruction, auto",
    ),
    ParamSpec::new(
        "shots",
        "all",
        "for templates with prior turns: how many to include (a number or `all`)",
    ),
];

/// One spec per template in the library.
/// Templates whose file could not be loaded are listed too, so that using
/// one fails with the file's error rather than "unknown attack".
pub fn specs(lib: &TemplateLibrary) -> Vec<AttackSpec> {
    let mut specs: Vec<AttackSpec> = lib
        .iter()
        .map(|t| AttackSpec {
            name: Cow::Owned(format!("template:{}", t.name)),
            summary: Cow::Owned(format!("{} [{}]", t.summary, t.origin)),
            params: PARAMS,
            uses_seed: false,
            build,
        })
        .collect();
    for u in lib.unavailable() {
        if let Some(name) = &u.name {
            specs.push(AttackSpec {
                name: Cow::Owned(format!("template:{name}")),
                summary: Cow::Owned(format!("UNAVAILABLE: {}", u.error)),
                params: PARAMS,
                uses_seed: false,
                build,
            });
        }
    }
    specs
}

struct TemplateAttack {
    label: String,
    params: Params,
    source: TextSource,
    shots: usize,
    template: Template,
}

fn build(name: &str, params: &Params, ctx: &BuildCtx) -> Result<DynAttack, AttackError> {
    let short = name.strip_prefix("template:").unwrap_or(name);
    if let Some(e) = ctx.templates.unavailable_reason(short) {
        return Err(common::err(name, format!("unavailable: {e}")));
    }
    let template = ctx
        .templates
        .get(short)
        .cloned()
        .ok_or_else(|| common::err(name, "template not in the library"))?;
    let shots = match params.str("shots") {
        "all" => usize::MAX,
        _ => param(name, params, "shots")?,
    };
    Ok(Arc::new(TemplateAttack {
        label: common::label(name, params, PARAMS),
        params: params.clone(),
        source: param(name, params, "text")?,
        shots,
        template,
    }))
}

#[async_trait]
impl Attack for TemplateAttack {
    fn name(&self) -> &str {
        &self.label
    }

    async fn apply(&self, case: &Case, seed: u64) -> Result<Vec<Case>, AttackError> {
        let (text, from) = source_text(&self.label, case, self.source)?;
        let body = self.template.render(&text, &case.question());
        let mut parts = vec![Part::text(body)];
        parts.extend(last_user_images(case).into_iter().map(Part::image));
        let mut msgs = case.messages.clone();
        let last_user = msgs.iter().rposition(|m| m.role == Role::User);
        let insert_at = last_user.unwrap_or(msgs.len());
        match last_user {
            Some(i) => msgs[i] = Message::user(parts),
            None => msgs.push(Message::user(parts)),
        }
        let shots: Vec<Message> = self
            .template
            .shots
            .iter()
            .take(self.shots)
            .flat_map(|s| {
                [
                    Message::user_text(&s.user),
                    Message::assistant(&s.assistant),
                ]
            })
            .collect();
        let n_shots = shots.len() / 2;
        msgs.splice(insert_at..insert_at, shots);
        if let Some(sys) = &self.template.system {
            msgs.insert(0, Message::system(sys));
        }
        let detail = serde_json::json!({
            "template": self.template.name,
            "origin": self.template.origin,
            "text_source": from,
            "shots": n_shots,
            // Where the request sits, so an image attack that follows can move
            // the request into its image and keep the framing in the text.
            "request": text,
            "frame": self.template.render(common::REQUEST_SLOT, common::REQUEST_SLOT),
        });
        Ok(vec![derive(
            case,
            &self.label,
            &self.params,
            seed,
            None,
            msgs,
            detail,
        )])
    }
}
