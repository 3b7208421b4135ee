//! A byte-level BPE tokenizer built from a GGUF file's own arrays.
//!
//! candle's `TokenizerFromGguf` falls back to a GPT-2 pre-tokenizer with
//! `add_prefix_space=true` for `pre=smollm`, which gives wrong ids (e.g.
//! `system` after `<|im_start|>` becomes 817 instead of 9690). SmolLM's own
//! tokenizer splits digits individually, then applies byte-level BPE without a
//! prefix space; control (3) and user-defined (4) tokens are special.

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

fn strings(content: &Content, key: &str) -> Result<Vec<String>, String> {
    let v = content
        .metadata
        .get(key)
        .ok_or_else(|| format!("GGUF metadata has no `{key}`"))?;
    let arr = v.to_vec().map_err(|e| format!("`{key}`: {e}"))?;
    arr.iter()
        .map(|x| x.to_string().cloned().map_err(|e| format!("`{key}`: {e}")))
        .collect()
}

fn int_of(v: &Value) -> Option<i64> {
    Some(match v {
        Value::U8(x) => *x as i64,
        Value::I8(x) => *x as i64,
        Value::U16(x) => *x as i64,
        Value::I16(x) => *x as i64,
        Value::U32(x) => *x as i64,
        Value::I32(x) => *x as i64,
        Value::U64(x) => *x as i64,
        Value::I64(x) => *x,
        _ => return None,
    })
}

/// Build the tokenizer; also returns the EOS id from the metadata.
pub fn from_gguf(content: &Content) -> Result<(Tokenizer, u32), String> {
    let model = content
        .metadata
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok().cloned())
        .unwrap_or_default();
    if model != "gpt2" {
        return Err(format!(
            "tokenizer.ggml.model is `{model}`; only byte-level BPE (`gpt2`) GGUF tokenizers are supported"
        ));
    }
    let tokens = strings(content, "tokenizer.ggml.tokens")?;
    let merges = strings(content, "tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("bad merge entry `{m}`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let types: Vec<i64> = content
        .metadata
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|a| a.iter().map(|x| int_of(x).unwrap_or(1)).collect())
        .unwrap_or_default();
    let eos = content
        .metadata
        .get("tokenizer.ggml.eos_token_id")
        .and_then(int_of)
        .ok_or("GGUF metadata has no tokenizer.ggml.eos_token_id")? as u32;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| format!("BPE: {e}"))?;
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(Sequence::new(vec![
        Digits::new(true).into(),
        ByteLevel::new(false, true, true).into(),
    ])));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    let specials: Vec<AddedToken> = tokens
        .iter()
        .zip(types.iter())
        .filter(|(_, &t)| t == 3 || t == 4)
        .map(|(s, _)| AddedToken::from(s.clone(), true))
        .collect();
    tok.add_special_tokens(specials)
        .map_err(|e| format!("special tokens: {e}"))?;
    Ok((tok, eos))
}
