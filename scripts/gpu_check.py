#!/usr/bin/env python3
"""Helpers for scripts/gpu-check.sh (run on a CUDA machine with numpy, safetensors, PIL, torch).

  make-clip DIR tiny|vitb32 SEED   CLIP in HF layout with seeded random weights (fan-in scaled)
  make-images DIR                  the tests' clean image (48x40), a goal image, a 640x480 photo-like image
  compare CPU_DIR CUDA_DIR EPS     the tests' assertions on both runs, plus CPU-vs-CUDA agreement
  torch-pgd DIR STEPS              the same PGD-L-inf step in PyTorch on the same weights (peer baseline)

Every command prints one JSON line (and exits 1 when a check fails) so the shell
script can collect results without parsing prose.
"""
import json
import os
import sys
import time

import numpy as np

TOKENIZER = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
    "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"},
    "post_processor": None, "decoder": None,
    "model": {"type": "WordLevel", "unk_token": "<unk>", "vocab": {
        "<unk>": 0, "a": 1, "photo": 2, "of": 3, "bomb": 4, "cat": 5, "dog": 6, "how": 7,
        "to": 8, "make": 9, "<|startoftext|>": 10, "<|endoftext|>": 11}},
}

SIZES = {
    # The tests' TINY config (crates/mmsafe-adversarial/tests/adversarial.rs).
    "tiny": dict(proj=16, v=dict(hidden_size=32, intermediate_size=64, num_attention_heads=4,
                                 num_hidden_layers=2, image_size=32, patch_size=8),
                 t=dict(hidden_size=32, intermediate_size=64, num_attention_heads=4,
                        num_hidden_layers=2, max_position_embeddings=16, vocab_size=12)),
    # OpenAI CLIP ViT-B/32 shapes.
    "vitb32": dict(proj=512, v=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                    num_hidden_layers=12, image_size=224, patch_size=32),
                   t=dict(hidden_size=512, intermediate_size=2048, num_attention_heads=8,
                          num_hidden_layers=12, max_position_embeddings=77, vocab_size=49408)),
}


def make_clip(out, size, seed):
    from safetensors.numpy import save_file
    s = SIZES[size]
    rng = np.random.default_rng(int(seed))
    w = {}

    def normal(*shape):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 50
        return (rng.standard_normal(shape, dtype=np.float32) / np.sqrt(fan_in)).astype(np.float32)

    def encoder(prefix, cfg):
        d, inter = cfg["hidden_size"], cfg["intermediate_size"]
        for i in range(cfg["num_hidden_layers"]):
            p = f"{prefix}.layers.{i}"
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                w[f"{p}.self_attn.{n}.weight"] = normal(d, d)
                w[f"{p}.self_attn.{n}.bias"] = np.zeros(d, np.float32)
            for n in ("layer_norm1", "layer_norm2"):
                w[f"{p}.{n}.weight"] = np.ones(d, np.float32)
                w[f"{p}.{n}.bias"] = np.zeros(d, np.float32)
            w[f"{p}.mlp.fc1.weight"] = normal(inter, d)
            w[f"{p}.mlp.fc1.bias"] = np.zeros(inter, np.float32)
            w[f"{p}.mlp.fc2.weight"] = normal(d, inter)
            w[f"{p}.mlp.fc2.bias"] = np.zeros(d, np.float32)

    v, t = s["v"], s["t"]
    d = v["hidden_size"]
    patches = (v["image_size"] // v["patch_size"]) ** 2
    w["vision_model.embeddings.patch_embedding.weight"] = normal(d, 3, v["patch_size"], v["patch_size"])
    w["vision_model.embeddings.class_embedding"] = normal(d)
    w["vision_model.embeddings.position_embedding.weight"] = normal(patches + 1, d)
    for n in ("vision_model.pre_layrnorm", "vision_model.post_layernorm"):
        w[f"{n}.weight"] = np.ones(d, np.float32)
        w[f"{n}.bias"] = np.zeros(d, np.float32)
    encoder("vision_model.encoder", v)
    w["visual_projection.weight"] = normal(s["proj"], d)
    dt = t["hidden_size"]
    w["text_model.embeddings.token_embedding.weight"] = normal(t["vocab_size"], dt)
    w["text_model.embeddings.position_embedding.weight"] = normal(t["max_position_embeddings"], dt)
    w["text_model.final_layer_norm.weight"] = np.ones(dt, np.float32)
    w["text_model.final_layer_norm.bias"] = np.zeros(dt, np.float32)
    encoder("text_model.encoder", t)
    w["text_projection.weight"] = normal(s["proj"], dt)
    w["logit_scale"] = np.array(np.log(1 / 0.07), np.float32)
    os.makedirs(out, exist_ok=True)
    save_file(w, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": s["proj"],
        "vision_config": dict(v, hidden_act="quick_gelu", model_type="clip_vision_model"),
        "text_config": dict(t, hidden_act="quick_gelu", model_type="clip_text_model",
                            eos_token_id=2, bos_token_id=0, pad_token_id=1),
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(TOKENIZER, f)
    print(json.dumps({"make_clip": out, "size": size,
                      "params": int(sum(a.size for a in w.values()))}))


def make_images(out):
    from PIL import Image
    os.makedirs(out, exist_ok=True)
    # The tests' clean_image(): smooth gradients plus a disc.
    w, h = 48, 40
    a = np.zeros((h, w, 3), np.uint8)
    for y in range(h):
        for x in range(w):
            inside = (x - 20) ** 2 + (y - 18) ** 2 < 100
            a[y, x] = ((x * 5) % 256, (y * 6) % 256, 220 if inside else 40)
    Image.fromarray(a).save(os.path.join(out, "clean.png"))
    # The tests' goal image: bytes (i * 37) mod 256.
    g = (np.arange(h * w * 3) * 37 % 256).astype(np.uint8).reshape(h, w, 3)
    Image.fromarray(g).save(os.path.join(out, "goal.png"))
    # A larger photo-like input for timing (resized/cropped to 224 inside the graph).
    yy, xx = np.mgrid[0:480, 0:640]
    p = np.stack([(xx * 255 // 639), (yy * 255 // 479), ((xx + yy) % 256)], -1).astype(np.uint8)
    Image.fromarray(p).save(os.path.join(out, "photo.png"))
    print(json.dumps({"make_images": out}))


def read_run(d):
    from PIL import Image
    with open(os.path.join(d, "manifest.jsonl")) as f:
        case = json.loads(f.readline())
    detail = case["provenance"][-1]["detail"]
    img = next(p for p in case["messages"][0]["content"] if p["type"] == "image")
    pixels = np.asarray(Image.open(os.path.join(d, img["file"])).convert("RGB"), np.int32)
    return detail, pixels


def compare(cpu_dir, cuda_dir, eps):
    eps = float(eval(eps, {}, {}))  # "32/255" from our own script
    out, ok = {}, True
    runs = {}
    for dev, d in (("cpu", cpu_dir), ("cuda", cuda_dir)):
        detail, pixels = read_run(d)
        runs[dev] = (detail, pixels)
        loss = detail["loss"]
        imp = detail["imperceptibility"]
        checks = {
            # The assertions of adversarial_each_mode_lowers_loss_within_budget.
            "loss_drops": loss["final"] < loss["initial"] - 0.05,
            "deployed_close": abs(loss["deployed"] - loss["final"]) < 0.1,
            "linf_within_eps": imp["linf"] <= eps + 1 / 255 + 1e-9,
            "psnr_over_20": imp["psnr"] > 20,
        }
        ok &= all(checks.values())
        out[dev] = {"loss": loss, "linf": imp["linf"], "psnr": imp["psnr"], "checks": checks}
    (dc, pc), (dg, pg) = runs["cpu"], runs["cuda"]
    agree = {
        "initial_loss_diff": abs(dc["loss"]["initial"] - dg["loss"]["initial"]),
        "final_loss_diff": abs(dc["loss"]["final"] - dg["loss"]["final"]),
        "deployed_loss_diff": abs(dc["loss"]["deployed"] - dg["loss"]["deployed"]),
        "pixels_max_abs_diff": int(np.abs(pc - pg).max()),
        "pixels_share_identical": float((pc == pg).mean()),
    }
    # The forward pass on the same clean image must agree to float noise; the
    # trajectories may drift (a sign flip of a tiny gradient moves a pixel by a step).
    agree["ok"] = agree["initial_loss_diff"] < 1e-4 and agree["final_loss_diff"] < 0.05
    ok &= agree["ok"]
    out["agreement"] = agree
    out["ok"] = bool(ok)
    print(json.dumps(out))
    return 0 if ok else 1


def torch_pgd(model_dir, steps):
    import torch
    import torch.nn.functional as F
    from transformers import CLIPModel
    steps = int(steps)
    dev = "cuda"
    try:
        model = CLIPModel.from_pretrained(model_dir, dtype=torch.float32)
    except TypeError:  # transformers < 4.56 names it torch_dtype
        model = CLIPModel.from_pretrained(model_dir, torch_dtype=torch.float32)
    model = model.to(dev).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711], device=dev).view(1, 3, 1, 1)
    res = {"torch": torch.__version__, "attn": getattr(model.config, "_attn_implementation", None),
           "tf32_matmul": torch.backends.cuda.matmul.allow_tf32}
    for batch in (1, 8):
        g = torch.Generator(device=dev).manual_seed(0)
        x0 = torch.rand(batch, 3, 224, 224, device=dev, generator=g)
        target = F.normalize(torch.rand(1, 512, device=dev, generator=g) * 2 - 1, dim=-1)
        delta = torch.zeros_like(x0)

        def step(delta):
            d = delta.clone().requires_grad_(True)
            x = (x0 + d).clamp(0, 1)
            pooled = model.vision_model(pixel_values=(x - mean) / std).pooler_output
            emb = F.normalize(model.visual_projection(pooled), dim=-1)
            loss = (emb * target).sum(-1).mean()
            (grad,) = torch.autograd.grad(loss, d)
            return (delta - grad.sign() / 255).clamp(-16 / 255, 16 / 255)

        for _ in range(2):
            delta = step(delta)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            delta = step(delta)
        torch.cuda.synchronize()
        res[f"seconds_per_step_batch{batch}"] = (time.perf_counter() - t) / steps
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "make-clip":
        make_clip(*args)
    elif cmd == "make-images":
        make_images(*args)
    elif cmd == "compare":
        sys.exit(compare(*args))
    elif cmd == "torch-pgd":
        sys.exit(torch_pgd(*args))
    else:
        sys.exit(f"unknown command {cmd}")
