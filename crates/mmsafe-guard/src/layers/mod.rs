//! The guard layers. One file per layer, each with its `KIND` (name,
//! parameters, constructor); `registry::LAYERS` lists them.

pub mod classify_input;
pub mod classify_output;
pub mod ecso;
pub mod jailguard;
pub mod kind;
pub mod ocr;
pub mod prompt_adaptive;
pub mod prompt_static;
pub mod purify;
pub mod registry;

use mmsafe_core::{Image, Message, Part, Request, Role};

/// Where a defense prompt goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// After the user's text (AdaShield's released form without repetition).
    #[default]
    Append,
    /// `query + prompt + query`, as AdaShield's released target wrappers send it.
    Sandwich,
    /// As a system message before the conversation.
    System,
}

/// Add `prompt` to the request at `placement`.
pub fn insert_prompt(req: &Request, prompt: &str, placement: Placement) -> Request {
    let mut out = req.clone();
    if placement == Placement::System {
        out.messages.insert(0, Message::system(prompt));
        return out;
    }
    let Some(msg) = out.messages.iter_mut().rev().find(|m| m.role == Role::User) else {
        out.messages.push(Message::user_text(prompt));
        return out;
    };
    let query = msg.text();
    let new_text = match placement {
        Placement::Sandwich => format!("{query}\n\n{prompt}\n\n{query}"),
        _ => {
            if query.is_empty() {
                prompt.to_string()
            } else {
                format!("{query}\n\n{prompt}")
            }
        }
    };
    // Keep images where they were; the text becomes one part after them.
    msg.content.retain(|p| matches!(p, Part::Image { .. }));
    msg.content.push(Part::text(new_text));
    out
}

/// Replace every image of the request with `f(image)`, in order.
pub fn map_images<E>(
    req: &Request,
    mut f: impl FnMut(usize, &Image) -> Result<Image, E>,
) -> Result<Request, E> {
    let mut out = req.clone();
    let mut i = 0;
    for m in &mut out.messages {
        for p in &mut m.content {
            if let Part::Image { image } = p {
                *image = f(i, image)?;
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Drop every image (ECSO's "eyes closed" answer).
pub fn without_images(req: &Request) -> Request {
    let mut out = req.clone();
    for m in &mut out.messages {
        m.content.retain(|p| matches!(p, Part::Text { .. }));
    }
    out.messages.retain(|m| !m.content.is_empty());
    out
}

/// Replace the text of the last user message, keeping its images.
pub fn with_prompt_text(req: &Request, text: &str) -> Request {
    let mut out = req.clone();
    match out.messages.iter_mut().rev().find(|m| m.role == Role::User) {
        Some(msg) => {
            msg.content.retain(|p| matches!(p, Part::Image { .. }));
            msg.content.push(Part::text(text));
        }
        None => out.messages.push(Message::user_text(text)),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_placements() {
        let req = Request::new(vec![Message::user_text("Q")]);
        assert_eq!(
            insert_prompt(&req, "P", Placement::Append).prompt_text(),
            "Q\n\nP"
        );
        assert_eq!(
            insert_prompt(&req, "P", Placement::Sandwich).prompt_text(),
            "Q\n\nP\n\nQ"
        );
        let s = insert_prompt(&req, "P", Placement::System);
        assert_eq!(s.messages[0].role, Role::System);
        assert_eq!(s.prompt_text(), "Q");
    }
}
