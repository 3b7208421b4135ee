//! GGUF chat LLM on candle: quantized llama weights, a tokenizer built from the
//! GGUF arrays, the ChatML template, greedy or seeded sampling with stop
//! tokens, stop strings and a token budget. The KV cache lives in the model
//! weights and is reset by starting each generation at position 0.

pub mod requant;
pub mod tokenizer;

use crate::error::LocalError;
use crate::threads::Compute;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::quantized_llama::{ModelWeights, MAX_SEQ_LEN};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// SmolLM2's chat template injects this system prompt when none is given.
pub const SMOLLM_DEFAULT_SYSTEM: &str =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// Chat roles as the template knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

/// Render ChatML exactly as SmolLM2's `tokenizer.chat_template` does, with the
/// assistant turn opened for generation.
pub fn chatml(messages: &[(ChatRole, String)]) -> String {
    let mut out = String::new();
    if !messages.iter().any(|(r, _)| *r == ChatRole::System) {
        out.push_str("<|im_start|>system\n");
        out.push_str(SMOLLM_DEFAULT_SYSTEM);
        out.push_str("<|im_end|>\n");
    }
    for (role, text) in messages {
        let r = match role {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        };
        out.push_str("<|im_start|>");
        out.push_str(r);
        out.push('\n');
        out.push_str(text);
        out.push_str("<|im_end|>\n");
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    pub max_tokens: usize,
    /// 0 = greedy (argmax).
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub seed: u64,
    /// Generation stops before any of these strings.
    pub stop: Vec<String>,
    /// >1 discourages repeating the last `repeat_last_n` tokens (1 = off).
    pub repeat_penalty: f32,
    pub repeat_last_n: usize,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams {
            max_tokens: 128,
            temperature: 0.0,
            top_p: None,
            seed: 0,
            stop: Vec::new(),
            repeat_penalty: 1.1,
            repeat_last_n: 64,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// EOS token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub text: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub finish: Finish,
    /// Wall seconds spent on the prompt (prefill) and on generated tokens.
    pub prompt_secs: f64,
    pub gen_secs: f64,
}

/// A loaded GGUF chat model. Calls are serialised: the weights hold the KV cache.
pub struct Llm {
    model: Mutex<ModelWeights>,
    tokenizer: tokenizers::Tokenizer,
    eos: u32,
    compute: Compute,
    device: Device,
    name: String,
}

impl Llm {
    /// Load a GGUF llama-architecture file with a byte-level BPE tokenizer.
    pub fn load(path: &Path, compute: Compute) -> Result<Llm, LocalError> {
        let what = path.display().to_string();
        let mut file = std::fs::File::open(path).map_err(|e| LocalError::io(path, e))?;
        let content =
            gguf_file::Content::read(&mut file).map_err(|e| LocalError::model(&what, e))?;
        let (tokenizer, eos) =
            tokenizer::from_gguf(&content).map_err(|e| LocalError::model(&what, e))?;
        let name = content
            .metadata
            .get("general.name")
            .and_then(|v| v.to_string().ok().cloned())
            .unwrap_or_else(|| what.clone());
        let device = crate::threads::device();
        let model = compute
            .run(|| ModelWeights::from_gguf(content, &mut file, &device))
            .map_err(|e| LocalError::model(&what, e))?;
        Ok(Llm {
            model: Mutex::new(model),
            tokenizer,
            eos,
            compute,
            device,
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tokenizer(&self) -> &tokenizers::Tokenizer {
        &self.tokenizer
    }

    pub fn eos_id(&self) -> u32 {
        self.eos
    }

    /// Token ids of `text`, special tokens (`<|im_start|>` …) recognised.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LocalError> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| LocalError::model(&self.name, format!("tokenize: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    fn decode(&self, ids: &[u32]) -> Result<String, LocalError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| LocalError::model(&self.name, format!("detokenize: {e}")))
    }

    /// Continue `prompt` (already templated) until EOS, a stop string or the budget.
    pub fn generate(&self, prompt: &str, p: &GenParams) -> Result<Generation, LocalError> {
        let mut ids = self.encode(prompt)?;
        // Keep the end of an over-long prompt: the question comes last.
        let budget = MAX_SEQ_LEN.saturating_sub(p.max_tokens + 1).max(1);
        if ids.len() > budget {
            ids.drain(..ids.len() - budget);
        }
        let err = |e: candle_core::Error| LocalError::model(&self.name, e);
        self.compute.run(|| {
            let mut model = self.model.lock().map_err(|_| {
                LocalError::model(&self.name, "model lock poisoned by an earlier panic")
            })?;
            let sampling = if p.temperature <= 0.0 {
                Sampling::ArgMax
            } else {
                match p.top_p {
                    Some(top_p) if top_p < 1.0 => Sampling::TopP {
                        p: top_p,
                        temperature: p.temperature,
                    },
                    _ => Sampling::All {
                        temperature: p.temperature,
                    },
                }
            };
            let mut lp = LogitsProcessor::from_sampling(p.seed, sampling);
            let t0 = Instant::now();
            let input = Tensor::new(ids.as_slice(), &self.device)
                .and_then(|t| t.unsqueeze(0))
                .map_err(err)?;
            let mut logits = model.forward(&input, 0).map_err(err)?;
            let prompt_secs = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let mut out: Vec<u32> = Vec::new();
            let mut all = ids.clone();
            let mut finish = Finish::Length;
            let mut text = String::new();
            while out.len() < p.max_tokens {
                let mut l = logits.squeeze(0).map_err(err)?;
                if p.repeat_penalty != 1.0 && !all.is_empty() {
                    let start = all.len().saturating_sub(p.repeat_last_n);
                    l = candle_transformers::utils::apply_repeat_penalty(
                        &l,
                        p.repeat_penalty,
                        &all[start..],
                    )
                    .map_err(err)?;
                }
                let next = lp.sample(&l).map_err(err)?;
                if next == self.eos {
                    finish = Finish::Stop;
                    break;
                }
                out.push(next);
                all.push(next);
                if !p.stop.is_empty() {
                    text = self.decode(&out)?;
                    if let Some(cut) = p.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                        text.truncate(cut);
                        finish = Finish::Stop;
                        break;
                    }
                }
                if out.len() >= p.max_tokens || all.len() >= MAX_SEQ_LEN {
                    break;
                }
                let input = Tensor::new(&[next], &self.device)
                    .and_then(|t| t.unsqueeze(0))
                    .map_err(err)?;
                logits = model.forward(&input, all.len() - 1).map_err(err)?;
            }
            if finish == Finish::Length || p.stop.is_empty() {
                text = self.decode(&out)?;
            }
            Ok(Generation {
                text: text.trim().to_string(),
                prompt_tokens: ids.len(),
                completion_tokens: out.len(),
                finish,
                prompt_secs,
                gen_secs: t1.elapsed().as_secs_f64(),
            })
        })
    }
}
