"""Real GPU work for recording nvidia-smi telemetry (scripts/gpu/capture.sh).

Two decoder-only models with random weights (no download: the shape, not the text, is what the
GPU sees) serve a sequence of single requests, greedy decoding, exactly N new tokens each:
"honest" has a 7B Llama shape, "cheap" a 1.1B one, as a provider would swap them under one name.
With a batch size B (third argument), B requests of the same lengths are decoded together.
Writes one JSON line per request (or batch) (wall-clock start/end in ms since 1970, prompt and generated
token counts, variant) to the file given, and phase marks to stdout.
"""
import json, random, sys, time

import torch

SHAPES = {
    "honest": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32),
    "cheap": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4),
}


def build(variant):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=32000, max_position_embeddings=4096, **SHAPES[variant])
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)
    torch.set_default_dtype(torch.float32)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    return model, params


def serve(model, variant, seconds, out, rng, batch):
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        prompt = rng.randint(16, 512)
        new = rng.randint(32, 256)
        ids = torch.randint(3, 32000, (batch, prompt), device="cuda")
        t0 = time.time()
        with torch.no_grad():
            model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                           do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
        t1 = time.time()
        out.write(json.dumps({"variant": variant, "start_ms": round(t0 * 1000, 1), "end_ms": round(t1 * 1000, 1),
                              "batch": batch, "prompt_tokens": prompt * batch,
                              "completion_tokens": new * batch}) + "\n")
        out.flush()
        n += 1
        time.sleep(rng.uniform(0.0, 0.4))  # the gap before the router's next request
    return n


def main():
    path, seconds = sys.argv[1], float(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1  # requests decoded together, as an engine batches them
    rng = random.Random(20261204)
    with open(path, "w") as out:
        for variant in ("honest", "cheap"):
            model, params = build(variant)
            print(json.dumps({"mark": "loaded", "variant": variant, "params": params, "t_ms": time.time() * 1000}), flush=True)
            time.sleep(5)  # idle, weights resident
            print(json.dumps({"mark": "serve", "variant": variant, "t_ms": time.time() * 1000}), flush=True)
            n = serve(model, variant, seconds, out, rng, batch)
            print(json.dumps({"mark": "done", "variant": variant, "requests": n, "t_ms": time.time() * 1000}), flush=True)
            del model
            torch.cuda.empty_cache()
            time.sleep(5)


if __name__ == "__main__":
    main()
