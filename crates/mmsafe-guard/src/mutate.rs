//! JailGuard's input mutators (methods.md §10.2–10.3), seeded.
//!
//! Image mutators follow torchvision semantics with levels drawn per call; the
//! default policy `PL` picks rotation, blur or posterize with probabilities
//! 0.34 / 0.45 / 0.21. Text mutators are the character-level ones plus
//! punctuation insertion; translation (`TL`) needs a translation model and is
//! left out, so the text policy picks punctuation insertion, random insertion
//! or random deletion with probabilities 0.24 / 0.52 / 0.24 (the paper's PI /
//! TI / TL weights, with random insertion standing in for TI's heat-map).

use crate::imaging;
use image::RgbImage;
use rand::{Rng, RngCore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageMutator {
    HorizontalFlip,
    VerticalFlip,
    Rotate,
    Crop,
    Mask,
    Solarize,
    Grayscale,
    Blur,
    ColorJitter,
    Posterize,
}

impl ImageMutator {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageMutator::HorizontalFlip => "HF",
            ImageMutator::VerticalFlip => "VF",
            ImageMutator::Rotate => "RR",
            ImageMutator::Crop => "CR",
            ImageMutator::Mask => "RM",
            ImageMutator::Solarize => "RS",
            ImageMutator::Grayscale => "GR",
            ImageMutator::Blur => "BL",
            ImageMutator::ColorJitter => "CJ",
            ImageMutator::Posterize => "RP",
        }
    }
}

/// JailGuard's default image policy.
pub fn pick_image_mutator(rng: &mut dyn RngCore) -> ImageMutator {
    let r: f64 = rng.random();
    if r < 0.34 {
        ImageMutator::Rotate
    } else if r < 0.79 {
        ImageMutator::Blur
    } else {
        ImageMutator::Posterize
    }
}

pub fn mutate_image(img: &RgbImage, m: ImageMutator, rng: &mut dyn RngCore) -> RgbImage {
    let (w, h) = img.dimensions();
    match m {
        ImageMutator::HorizontalFlip => {
            let p: f64 = rng.random_range(0.1..1.0);
            if rng.random::<f64>() < p {
                image::imageops::flip_horizontal(img)
            } else {
                img.clone()
            }
        }
        ImageMutator::VerticalFlip => {
            let p: f64 = rng.random_range(0.1..1.0);
            if rng.random::<f64>() < p {
                image::imageops::flip_vertical(img)
            } else {
                img.clone()
            }
        }
        ImageMutator::Rotate => {
            let max: f32 = rng.random_range(0.1..180.0);
            let deg: f32 = rng.random_range(-max..=max);
            imaging::rotate(img, deg)
        }
        ImageMutator::Crop => {
            let scale: f32 = rng.random_range(0.9..1.0);
            let cw = ((w as f32 * scale.sqrt()).round() as u32).clamp(1, w);
            let ch = ((h as f32 * scale.sqrt()).round() as u32).clamp(1, h);
            let x = rng.random_range(0..=w - cw);
            let y = rng.random_range(0..=h - ch);
            let c = image::imageops::crop_imm(img, x, y, cw, ch).to_image();
            image::imageops::resize(&c, w, h, image::imageops::FilterType::Triangle)
        }
        ImageMutator::Mask => {
            let mw = rng
                .random_range(1..=200u32)
                .min((w as f32 * 0.3) as u32)
                .max(1);
            let mh = rng
                .random_range(1..=200u32)
                .min((h as f32 * 0.3) as u32)
                .max(1);
            let x = rng.random_range(0..=w.saturating_sub(mw));
            let y = rng.random_range(0..=h.saturating_sub(mh));
            let mut out = img.clone();
            for yy in y..(y + mh).min(h) {
                for xx in x..(x + mw).min(w) {
                    out.put_pixel(xx, yy, image::Rgb([0, 0, 0]));
                }
            }
            out
        }
        ImageMutator::Solarize => {
            let t: f32 = rng.random_range(0.1..200.0);
            let mut out = img.clone();
            imaging::solarize(&mut out, t as u8);
            out
        }
        ImageMutator::Grayscale => {
            if rng.random::<f64>() < 0.5 {
                imaging::grayscale(img)
            } else {
                img.clone()
            }
        }
        ImageMutator::Blur => {
            const SIZES: [u32; 4] = [1, 3, 5, 7];
            let k = SIZES[rng.random_range(0..SIZES.len())];
            // torchvision's default sigma for a kernel of size k.
            let sigma = 0.3 * ((k as f32 - 1.0) * 0.5 - 1.0) + 0.8;
            if k == 1 {
                img.clone()
            } else {
                imaging::gaussian_blur(img, sigma)
            }
        }
        ImageMutator::ColorJitter => {
            let b: f32 = rng.random_range(0.1..1.0);
            let factor = rng.random_range((1.0 - b).max(0.0)..=(1.0 + b));
            let mut out = img.clone();
            for p in out.pixels_mut() {
                for c in p.0.iter_mut() {
                    *c = (*c as f32 * factor).round().clamp(0.0, 255.0) as u8;
                }
            }
            out
        }
        ImageMutator::Posterize => {
            let bits = rng.random_range(1..=2u8);
            let mut out = img.clone();
            imaging::reduce_bits(&mut out, bits);
            out
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMutator {
    PunctuationInsertion,
    RandomInsertion,
    RandomDeletion,
    RandomReplacement,
}

impl TextMutator {
    pub fn as_str(self) -> &'static str {
        match self {
            TextMutator::PunctuationInsertion => "PI",
            TextMutator::RandomInsertion => "RI",
            TextMutator::RandomDeletion => "RD",
            TextMutator::RandomReplacement => "RR",
        }
    }
}

pub fn pick_text_mutator(rng: &mut dyn RngCore) -> TextMutator {
    let r: f64 = rng.random();
    if r < 0.24 {
        TextMutator::PunctuationInsertion
    } else if r < 0.76 {
        TextMutator::RandomInsertion
    } else {
        TextMutator::RandomDeletion
    }
}

/// Character-level edit rate (JailGuard's 0.5 × 0.01).
const CHAR_RATE: f64 = 0.005;
const PUNCT: [&str; 6] = [".", ";", "?", ":", "!", ","];

pub fn mutate_text(text: &str, m: TextMutator, rng: &mut dyn RngCore) -> String {
    let chars: Vec<char> = text.chars().collect();
    // At least one edit, so every variant differs from the input.
    let edits = ((chars.len() as f64 * CHAR_RATE).ceil() as usize).max(1);
    match m {
        TextMutator::PunctuationInsertion => {
            // AEDA: insert between 1 and a third of the words' count marks.
            let mut words: Vec<String> = text.split_whitespace().map(String::from).collect();
            if words.is_empty() {
                return text.to_string();
            }
            let n = rng.random_range(1..=(words.len() / 3).max(1));
            for _ in 0..n {
                let at = rng.random_range(0..=words.len());
                let p = PUNCT[rng.random_range(0..PUNCT.len())];
                words.insert(at, p.to_string());
            }
            words.join(" ")
        }
        TextMutator::RandomInsertion => {
            let mut out = chars;
            for _ in 0..edits {
                let at = rng.random_range(0..=out.len());
                out.insert(at, random_char(rng));
            }
            out.into_iter().collect()
        }
        TextMutator::RandomDeletion => {
            let mut out = chars;
            for _ in 0..edits.min(out.len().saturating_sub(1)) {
                let at = rng.random_range(0..out.len());
                out.remove(at);
            }
            out.into_iter().collect()
        }
        TextMutator::RandomReplacement => {
            let mut out = chars;
            if out.is_empty() {
                return String::new();
            }
            for _ in 0..edits {
                let at = rng.random_range(0..out.len());
                out[at] = random_char(rng);
            }
            out.into_iter().collect()
        }
    }
}

fn random_char(rng: &mut dyn RngCore) -> char {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
    ALPHABET[rng.random_range(0..ALPHABET.len())] as char
}

/// JailGuard's divergence score (methods.md §10.1 step 4) over L2-normalised
/// response embeddings: cosine matrix clipped at 0.01, rows normalised to
/// distributions, the largest pairwise KL divergence, clipped at 100.
pub fn divergence(vectors: &[Vec<f32>]) -> f64 {
    let n = vectors.len();
    if n < 2 {
        return 0.0;
    }
    let s: Vec<Vec<f64>> = vectors
        .iter()
        .map(|a| {
            vectors
                .iter()
                .map(|b| f64::from(mmsafe_core::cosine(a, b)).max(0.01))
                .collect()
        })
        .collect();
    let p: Vec<Vec<f64>> = s
        .iter()
        .map(|row| {
            let sum: f64 = row.iter().sum();
            row.iter().map(|x| x / sum).collect()
        })
        .collect();
    let mut max = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let kl: f64 = p[i].iter().zip(&p[j]).map(|(a, b)| a * (a / b).ln()).sum();
            max = max.max(kl.min(100.0));
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn text_mutators_are_seeded_and_change_text() {
        let t = "Please describe the weather in this photo in two sentences.";
        for m in [
            TextMutator::PunctuationInsertion,
            TextMutator::RandomInsertion,
            TextMutator::RandomDeletion,
            TextMutator::RandomReplacement,
        ] {
            let a = mutate_text(t, m, &mut ChaCha8Rng::seed_from_u64(3));
            let b = mutate_text(t, m, &mut ChaCha8Rng::seed_from_u64(3));
            assert_eq!(a, b, "{m:?} not deterministic");
            assert_ne!(a, t, "{m:?} left the text unchanged");
        }
    }

    #[test]
    fn image_mutators_keep_size() {
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 200]));
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for m in [
            ImageMutator::HorizontalFlip,
            ImageMutator::VerticalFlip,
            ImageMutator::Rotate,
            ImageMutator::Crop,
            ImageMutator::Mask,
            ImageMutator::Solarize,
            ImageMutator::Grayscale,
            ImageMutator::Blur,
            ImageMutator::ColorJitter,
            ImageMutator::Posterize,
        ] {
            assert_eq!(
                mutate_image(&img, m, &mut rng).dimensions(),
                (64, 48),
                "{m:?}"
            );
        }
    }

    #[test]
    fn divergence_is_zero_for_identical_and_positive_for_different() {
        let a = vec![1.0, 0.0, 0.0];
        let b = vec![0.0, 1.0, 0.0];
        assert!(divergence(&[a.clone(), a.clone(), a.clone()]) < 1e-9);
        assert!(divergence(&[a.clone(), a, b]) > 0.1);
    }
}
