//! The OCR models spend most of their time in depthwise convolutions, which
//! run on the patched rten in `vendor/rten` (see its `MMSAFE-PATCH.md`). This
//! checks the patched kernel against a plain reference over the shapes it
//! handles (unit horizontal stride) and the ones it leaves to rten's own code.

use rten::ops::{conv, Padding};
use rten::BufferPool;
use rten_tensor::prelude::*;
use rten_tensor::{NdTensor, Tensor};

/// Deterministic values in [-1, 1) (no RNG crate needed for a test pattern).
fn pattern(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect()
}

struct Case {
    chans: usize,
    in_hw: [usize; 2],
    k_hw: [usize; 2],
    pads: [usize; 4],
    strides: [usize; 2],
    dilations: [usize; 2],
}

fn reference(c: &Case, input: &[f32], kernel: &[f32], bias: &[f32]) -> (Vec<f32>, [usize; 2]) {
    let [ih, iw] = c.in_hw;
    let [kh, kw] = c.k_hw;
    let [pt, pl, pb, pr] = c.pads;
    let [sy, sx] = c.strides;
    let [dy, dx] = c.dilations;
    let oh = (ih + pt + pb - dy * (kh - 1) - 1) / sy + 1;
    let ow = (iw + pl + pr - dx * (kw - 1) - 1) / sx + 1;
    let mut out = vec![0f32; c.chans * oh * ow];
    for ch in 0..c.chans {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = bias[ch];
                for ky in 0..kh {
                    for kx in 0..kw {
                        let y = (oy * sy + ky * dy) as isize - pt as isize;
                        let x = (ox * sx + kx * dx) as isize - pl as isize;
                        if y >= 0 && x >= 0 && (y as usize) < ih && (x as usize) < iw {
                            acc += input[(ch * ih + y as usize) * iw + x as usize]
                                * kernel[(ch * kh + ky) * kw + kx];
                        }
                    }
                }
                out[(ch * oh + oy) * ow + ox] = acc;
            }
        }
    }
    (out, [oh, ow])
}

/// `chans` channels of `in_hw`, kernel `k_hw`, padding `[top, left, bottom, right]`.
fn case(
    chans: usize,
    in_hw: [usize; 2],
    k_hw: [usize; 2],
    pads: [usize; 4],
    strides: [usize; 2],
    dilations: [usize; 2],
) -> Case {
    Case {
        chans,
        in_hw,
        k_hw,
        pads,
        strides,
        dilations,
    }
}

#[test]
fn depthwise_conv_matches_the_reference() {
    let pool = BufferPool::new();
    let cases = [
        // The OCR recognizer's shapes: 5x5 and 3x3, "same" padding, stride 1 and (2, 1).
        case(6, [12, 99], [5, 5], [2, 2, 2, 2], [1, 1], [1, 1]),
        case(4, [12, 40], [3, 3], [1, 1, 1, 1], [2, 1], [1, 1]),
        // Rows narrower than a register block, exactly one block, and a block plus a tail.
        case(3, [5, 7], [5, 5], [2, 2, 2, 2], [1, 1], [1, 1]),
        case(3, [4, 20], [5, 5], [2, 2, 2, 2], [1, 1], [1, 1]),
        case(2, [3, 37], [3, 3], [0, 0, 0, 0], [1, 1], [1, 1]),
        // Uneven padding, a kernel wider than the input, a 1-wide kernel.
        case(3, [6, 33], [3, 3], [0, 2, 1, 0], [1, 1], [1, 1]),
        case(2, [4, 3], [3, 7], [1, 3, 1, 3], [1, 1], [1, 1]),
        case(2, [4, 50], [3, 1], [1, 0, 1, 0], [1, 1], [1, 1]),
        // Wider rows with uneven padding and a 1-high kernel.
        case(2, [5, 70], [3, 3], [0, 2, 1, 0], [1, 1], [1, 1]),
        case(2, [3, 90], [1, 7], [0, 3, 0, 3], [1, 1], [1, 1]),
        // Left to rten's own kernel: horizontal stride or dilation.
        case(3, [9, 41], [3, 3], [1, 1, 1, 1], [2, 2], [1, 1]),
        case(3, [9, 41], [3, 3], [2, 2, 2, 2], [1, 1], [2, 2]),
    ];
    for (i, c) in cases.iter().enumerate() {
        let [ih, iw] = c.in_hw;
        let [kh, kw] = c.k_hw;
        let input = pattern(2 * c.chans * ih * iw, i as u32);
        let kernel = pattern(c.chans * kh * kw, 100 + i as u32);
        let bias = pattern(c.chans, 200 + i as u32);
        let input_t = Tensor::from_data(&[2, c.chans, ih, iw], input.clone());
        let kernel_t = Tensor::from_data(&[c.chans, 1, kh, kw], kernel.clone());
        let bias_t = NdTensor::from_data([c.chans], bias.clone());
        let got: Tensor<f32> = conv(
            &pool,
            input_t.view(),
            kernel_t.view(),
            Some(bias_t.view()),
            Padding::from(c.pads),
            c.chans,
            &c.strides,
            &c.dilations,
        )
        .expect("conv runs");
        let plane = c.chans * ih * iw;
        for n in 0..2 {
            let (want, [oh, ow]) = reference(c, &input[n * plane..(n + 1) * plane], &kernel, &bias);
            assert_eq!(got.shape(), &[2, c.chans, oh, ow], "case {i}: output shape");
            let got_n = got.slice(n).to_vec();
            for (j, (g, w)) in got_n.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4,
                    "case {i}, image {n}, element {j}: {g} != {w}"
                );
            }
        }
    }
}
