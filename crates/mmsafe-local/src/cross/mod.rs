//! A fine-tuned MiniLM cross-encoder: the request and the reply go through
//! all-MiniLM-L6-v2 as one sequence (`[CLS] request [SEP] reply [SEP]`), and
//! a linear head on the mean-pooled output gives the probability that the
//! reply is a harmful compliance.
//!
//! A fine-tuned file (safetensors, written by [`train::finetune`]) holds only
//! the top layers it trained and the head, in f16; the frozen bottom layers
//! and embeddings come from the cached base model, so the shipped file stays
//! a few megabytes.

mod adamw;
pub mod bert;
pub mod checkpoint;
pub mod train;

use crate::error::LocalError;
use crate::threads::Compute;
use bert::Weights;
use candle_core::{DType, Device, Tensor};
use mmsafe_core::text::prefix_chars;
use mmsafe_core::{EmbedError, PairScorer};
use std::collections::HashMap;
use std::path::Path;
use tokenizers::Tokenizer;

/// `format` of a fine-tuned file's metadata.
pub const FORMAT: &str = "mmsafe-cross-encoder/1";
/// `format` of a file whose window is not [`MAX_TOKENS`]: a reader that
/// knows only [`FORMAT`] refuses it rather than read it with the wrong window.
pub const FORMAT_WINDOWED: &str = "mmsafe-cross-encoder/2";
/// Request tokens kept; the reply fills the rest of the window.
pub const MAX_REQUEST_TOKENS: usize = 64;
/// Tokens per sequence, special tokens included, unless a fine-tuned file
/// says otherwise (the window MiniLM was trained on).
pub const MAX_TOKENS: usize = 256;
/// The longest window a file may ask for: MiniLM's position embeddings.
pub const MAX_POSITIONS: usize = 512;
/// The shortest: the request's tokens plus room for some reply.
pub const MIN_TOKENS: usize = MAX_REQUEST_TOKENS + 16;
/// Characters of a text tokenised per [`MAX_TOKENS`] of window: far more
/// than fit, so long replies are not tokenised in full.
const TEXT_CHARS_PER_WINDOW: usize = 4000;
/// Windows of a reply read at judging time; the reply's probability is the
/// highest of its windows'. Chosen on held-out training rows: reading 2, 3
/// or 8 windows instead of 1 moved held-out HarmBench text from 75.0% to
/// 79.3% (harm often comes after a harmless-looking opening); 3 and 8 gave
/// identical verdicts, and 4 covers the 4,000 characters tokenised.
pub const WINDOWS: usize = 4;
/// Sequences per forward pass at inference.
const BATCH: usize = 16;

/// One tokenised (request, reply) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    /// 0 for `[CLS] request [SEP]`, 1 for `reply [SEP]`.
    pub types: Vec<u32>,
}

/// Builds `[CLS] request [SEP] reply [SEP]` sequences of at most `window`
/// tokens ([`MAX_TOKENS`] unless set).
pub struct PairTokenizer {
    tokenizer: Tokenizer,
    cls: u32,
    sep: u32,
    window: usize,
}

impl PairTokenizer {
    pub fn load(path: &Path) -> Result<PairTokenizer, LocalError> {
        let what = || path.display().to_string();
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| LocalError::model(what(), e))?;
        // The file's own settings pad and truncate single texts to 128 tokens.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| LocalError::model(what(), e))?;
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| LocalError::model(what(), format!("no `{t}` token")))
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        Ok(PairTokenizer {
            tokenizer,
            cls,
            sep,
            window: MAX_TOKENS,
        })
    }

    /// Sequences of at most `tokens` tokens ([`MIN_TOKENS`]..=[`MAX_POSITIONS`]).
    pub fn with_window(mut self, tokens: usize) -> Result<PairTokenizer, String> {
        check_window(tokens)?;
        self.window = tokens;
        Ok(self)
    }

    fn ids(&self, text: &str) -> Result<Vec<u32>, String> {
        // Scaled with the window, and exactly 4,000 characters at the
        // default, so files trained before windows were configurable read
        // the same tokens.
        let chars = TEXT_CHARS_PER_WINDOW * self.window / MAX_TOKENS;
        self.tokenizer
            .encode(prefix_chars(text, chars), false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| format!("tokenize: {e}"))
    }

    pub fn encode(&self, request: &str, reply: &str) -> Result<Encoded, String> {
        let mut w = self.encode_windows(request, reply, 1)?;
        Ok(w.remove(0))
    }

    /// Up to `max` sequences: the request with consecutive stretches of the
    /// reply (the first is [`PairTokenizer::encode`]'s; an empty reply gives one).
    pub fn encode_windows(
        &self,
        request: &str,
        reply: &str,
        max: usize,
    ) -> Result<Vec<Encoded>, String> {
        let mut q = self.ids(request)?;
        q.truncate(MAX_REQUEST_TOKENS);
        let r = self.ids(reply)?;
        let room = self.window - 3 - q.len();
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + room).min(r.len());
            let mut ids = Vec::with_capacity(q.len() + end - start + 3);
            ids.push(self.cls);
            ids.extend(&q);
            ids.push(self.sep);
            let first = ids.len();
            ids.extend(&r[start..end]);
            ids.push(self.sep);
            let types = (0..ids.len()).map(|i| u32::from(i >= first)).collect();
            out.push(Encoded { ids, types });
            start = end;
            if start >= r.len() || out.len() >= max.max(1) {
                break;
            }
        }
        Ok(out)
    }
}

/// Whether `tokens` is a usable sequence length.
pub fn check_window(tokens: usize) -> Result<(), String> {
    if (MIN_TOKENS..=MAX_POSITIONS).contains(&tokens) {
        Ok(())
    } else {
        Err(format!(
            "window of {tokens} tokens: must be {MIN_TOKENS}..={MAX_POSITIONS} (MiniLM's positions)"
        ))
    }
}

/// Pads a batch of sequences: ids, token types and the 0/1 mask.
pub(crate) fn pad_batch(
    rows: &[&Encoded],
    dev: &Device,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let t = rows.iter().map(|r| r.ids.len()).max().unwrap_or(1);
    let (mut ids, mut types, mut mask) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        let pad = t - r.ids.len();
        ids.extend(r.ids.iter().copied().chain(std::iter::repeat_n(0, pad)));
        types.extend(r.types.iter().copied().chain(std::iter::repeat_n(0, pad)));
        mask.extend(std::iter::repeat_n(1u32, r.ids.len()).chain(std::iter::repeat_n(0, pad)));
    }
    let shape = (rows.len(), t);
    Ok((
        Tensor::from_vec(ids, shape, dev)?,
        Tensor::from_vec(types, shape, dev)?,
        Tensor::from_vec(mask, shape, dev)?,
    ))
}

/// What a fine-tuned file says about itself (its safetensors metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// The base model whose frozen layers it completes.
    pub base: String,
    /// Index of the first layer the file replaces.
    pub first_trained_layer: usize,
    /// How it was made (JSON), as written by `mmsafe judge train`.
    pub provenance: String,
    /// Tokens per sequence it was trained on, and is read with.
    pub window: usize,
}

/// The one metadata key of a fine-tuned file. One key, holding JSON with
/// sorted fields, because the safetensors header stores metadata as a hash
/// map whose order would otherwise change the file's bytes from run to run.
const CARD_KEY: &str = "mmsafe";

impl Card {
    pub(crate) fn to_metadata(&self) -> HashMap<String, String> {
        let windowed = self.window != MAX_TOKENS;
        let mut card = serde_json::json!({
            "format": if windowed { FORMAT_WINDOWED } else { FORMAT },
            "base": self.base,
            "first_trained_layer": self.first_trained_layer,
            "provenance": self.provenance,
        });
        // Only when not the default, so files from before the field keep
        // their bytes.
        if windowed {
            card["window"] = serde_json::json!(self.window);
        }
        HashMap::from([(CARD_KEY.to_string(), card.to_string())])
    }

    fn from_bytes(bytes: &[u8], source: &str) -> Result<Card, LocalError> {
        let bad = |m: String| LocalError::model(source, m);
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let card = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(CARD_KEY))
            .ok_or_else(|| {
                bad("no `mmsafe` metadata: not written by `mmsafe judge train`".into())
            })?;
        let card: serde_json::Value = serde_json::from_str(card)
            .map_err(|e| bad(format!("`mmsafe` metadata is not JSON: {e}")))?;
        let field = |k: &str| {
            card.get(k)
                .ok_or_else(|| bad(format!("metadata lacks `{k}`")))
        };
        let format = field("format")?.as_str().unwrap_or_default();
        if format != FORMAT && format != FORMAT_WINDOWED {
            return Err(bad(format!(
                "format `{format}`, expected `{FORMAT}` or `{FORMAT_WINDOWED}`"
            )));
        }
        let first_trained_layer = field("first_trained_layer")?
            .as_u64()
            .map(|l| l as usize)
            .filter(|l| *l < bert::LAYERS)
            .ok_or_else(|| bad(format!("`first_trained_layer` must be 0..{}", bert::LAYERS)))?;
        let window = match card.get("window") {
            None if format == FORMAT => MAX_TOKENS,
            None => return Err(bad(format!("`{FORMAT_WINDOWED}` metadata lacks `window`"))),
            Some(w) => w
                .as_u64()
                .map(|w| w as usize)
                .filter(|w| check_window(*w).is_ok())
                .ok_or_else(|| {
                    bad(format!(
                        "`window` must be {MIN_TOKENS}..={MAX_POSITIONS} tokens, got {w}"
                    ))
                })?,
        };
        Ok(Card {
            base: field("base")?.as_str().unwrap_or_default().to_string(),
            first_trained_layer,
            window,
            provenance: card
                .get("provenance")
                .and_then(|p| p.as_str())
                .unwrap_or_default()
                .to_string(),
        })
    }
}

/// Loads the base model's weights (f32) and its pair tokenizer from a model folder.
pub(crate) fn load_base(dir: &Path) -> Result<(Weights, PairTokenizer), LocalError> {
    let path = dir.join(crate::models::catalog::MINILM_WEIGHTS);
    let weights = candle_core::safetensors::load(&path, &Device::Cpu)
        .map_err(|e| LocalError::model(path.display().to_string(), e))?
        .into_iter()
        .map(|(k, v)| Ok((k, v.to_dtype(DType::F32)?)))
        .collect::<candle_core::Result<Weights>>()
        .map_err(|e| LocalError::model(path.display().to_string(), e))?;
    let tokenizer = PairTokenizer::load(&dir.join(crate::models::catalog::MINILM_TOKENIZER))?;
    Ok((weights, tokenizer))
}

pub struct CrossEncoder {
    name: String,
    weights: Weights,
    tokenizer: PairTokenizer,
    card: Card,
    compute: Compute,
    windows: usize,
}

impl CrossEncoder {
    /// The base model from `base_dir` completed by a fine-tuned file's bytes;
    /// `source` names the file in errors.
    pub fn load(
        base_dir: &Path,
        finetuned: &[u8],
        source: &str,
        compute: Compute,
    ) -> Result<CrossEncoder, LocalError> {
        let card = Card::from_bytes(finetuned, source)?;
        if card.base != crate::models::catalog::MINILM {
            return Err(LocalError::model(
                source,
                format!(
                    "fine-tuned from `{}`, but this build completes `{}`",
                    card.base,
                    crate::models::catalog::MINILM
                ),
            ));
        }
        let (mut weights, tokenizer) = load_base(base_dir)?;
        let tokenizer = tokenizer
            .with_window(card.window)
            .map_err(|m| LocalError::model(source, m))?;
        let tuned = candle_core::safetensors::load_buffer(finetuned, &Device::Cpu)
            .map_err(|e| LocalError::model(source, e))?;
        let mut expected: Vec<String> = (card.first_trained_layer..bert::LAYERS)
            .flat_map(bert::layer_tensor_names)
            .collect();
        expected.extend([bert::HEAD_WEIGHT.to_string(), bert::HEAD_BIAS.to_string()]);
        for name in expected {
            let t = tuned
                .get(&name)
                .ok_or_else(|| LocalError::model(source, format!("lacks tensor `{name}`")))?;
            let expected: Vec<usize> = match name.as_str() {
                bert::HEAD_WEIGHT => vec![1, bert::HIDDEN],
                bert::HEAD_BIAS => vec![1],
                _ => weights
                    .get(&name)
                    .map(|b| b.dims().to_vec())
                    .unwrap_or_default(),
            };
            if t.dims() != expected.as_slice() {
                return Err(LocalError::model(
                    source,
                    format!(
                        "tensor `{name}` has shape {:?}, expected {expected:?}",
                        t.dims()
                    ),
                ));
            }
            let t = t
                .to_dtype(DType::F32)
                .map_err(|e| LocalError::model(source, e))?;
            weights.insert(name, t);
        }
        Ok(CrossEncoder {
            name: format!("{}-cross", crate::models::catalog::MINILM),
            weights,
            tokenizer,
            card,
            compute,
            windows: WINDOWS,
        })
    }

    /// Read at most `n` windows of each reply (1 = only the opening, as in training).
    pub fn with_windows(mut self, n: usize) -> CrossEncoder {
        self.windows = n.max(1);
        self
    }

    pub fn card(&self) -> &Card {
        &self.card
    }

    fn batch_probabilities(&self, rows: &[&Encoded]) -> candle_core::Result<Vec<f32>> {
        let (ids, types, mask) = pad_batch(rows, &Device::Cpu)?;
        let attn = bert::attention_mask(&mask)?;
        let mut h = bert::embed(&self.weights, &ids, &types)?;
        for l in 0..bert::LAYERS {
            h = bert::layer(&self.weights, l, &h, &attn, None)?;
        }
        candle_nn::ops::sigmoid(&bert::head_logits(&self.weights, &h, &mask)?)?.to_vec1::<f32>()
    }

    /// Harm probabilities of (request, reply) pairs (the highest over each
    /// reply's windows), batched by length.
    pub fn probabilities(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>, String> {
        let mut owner = Vec::new();
        let mut encoded = Vec::new();
        for (k, (q, r)) in pairs.iter().enumerate() {
            for e in self.tokenizer.encode_windows(q, r, self.windows)? {
                owner.push(k);
                encoded.push(e);
            }
        }
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| encoded[i].ids.len());
        let mut out = vec![0f32; encoded.len()];
        for chunk in order.chunks(BATCH) {
            let rows: Vec<&Encoded> = chunk.iter().map(|&i| &encoded[i]).collect();
            let p = self
                .compute
                .run(|| self.batch_probabilities(&rows))
                .map_err(|e| e.to_string())?;
            for (&i, p) in chunk.iter().zip(p) {
                out[i] = p;
            }
        }
        let mut agg = vec![0f32; pairs.len()];
        for (i, p) in out.into_iter().enumerate() {
            agg[owner[i]] = agg[owner[i]].max(p);
        }
        Ok(agg)
    }
}

impl PairScorer for CrossEncoder {
    fn name(&self) -> &str {
        &self.name
    }

    fn score(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>, EmbedError> {
        self.probabilities(pairs).map_err(EmbedError)
    }
}
