"""Runs ImageEncoder for bench:sam, driven line by line from Node so engines can be timed interleaved.

  python3 encoder_server.py CONFIG.json WEIGHTS.safetensors IMAGE.safetensors OUT.safetensors THREADS [ONNX]

Loads the weights, embeds IMAGE once (written to OUT, tensor `image_embeddings`, for the parity check),
optionally writes PyTorch's own ONNX export of the module to ONNX, then answers each stdin line `embed` with
one timed forward. Every reply is one JSON line on stdout.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sam_image_encoder import load_image_encoder, read_safetensors, write_safetensors  # noqa: E402


def blas_library():
    """The BLAS shared object torch's matmuls go through (Debian's generic build takes whatever libblas.so.3 is)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.rsplit("/", 1)[-1]}
    return sorted(libs)[0] if libs else None


def reply(**kw):
    print(json.dumps(kw), flush=True)


def main():
    cfg_path, weights, image_path, out_path, threads = sys.argv[1:6]
    onnx_path = sys.argv[6] if len(sys.argv) > 6 else None
    torch.set_num_threads(int(threads))
    cfg = json.load(open(cfg_path))
    t0 = time.perf_counter()
    enc = load_image_encoder(cfg, weights)
    image = read_safetensors(image_path)["image"]
    load_ms = (time.perf_counter() - t0) * 1e3
    with torch.inference_mode():
        t0 = time.perf_counter()
        emb = enc(image)
        first_ms = (time.perf_counter() - t0) * 1e3
    write_safetensors(out_path, {"image_embeddings": emb})
    export_ms = None
    if onnx_path:
        t0 = time.perf_counter()
        with torch.no_grad():
            torch.onnx.export(
                enc, (image,), onnx_path, opset_version=17,
                input_names=["image"], output_names=["image_embeddings"], do_constant_folding=True,
            )
        export_ms = (time.perf_counter() - t0) * 1e3
    reply(event="ready", torch=torch.__version__, threads=torch.get_num_threads(), blas=blas_library(),
          loadMs=load_ms, firstMs=first_ms, exportMs=export_ms)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd != "embed":
            reply(event="error", message=f"unknown command {cmd!r}")
            continue
        with torch.inference_mode():
            t0 = time.perf_counter()
            enc(image)
            reply(event="embedded", ms=(time.perf_counter() - t0) * 1e3)


if __name__ == "__main__":
    main()
