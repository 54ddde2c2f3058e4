#!/usr/bin/env python3
"""PyTorch eager fp32 on the shapes gatun bench uses, on the same GPU, for the issue's comparisons:
a BERT-class encoder of all-MiniLM-L6-v2's shapes (6 layers, hidden 384, 12 heads, FFN 1536, GELU, post-norm;
random weights) at batch 1 x 128 and 32 x 128, ResNet-18 batch 1 (torchvision, when installed) and a 4096^3
fp32 MatMul. Median of 50 timed runs (CUDA events) after 10 warm-ups. TF32 is off (fp32 as Gatun's default)."""
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"


def median_ms(fn, warm=10, runs=50):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(runs):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        ts.append(s.elapsed_time(e))
    ts.sort()
    return ts[len(ts) // 2]


class MiniLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(30522, 384)
        self.pos = torch.nn.Embedding(512, 384)
        self.norm = torch.nn.LayerNorm(384)
        layer = torch.nn.TransformerEncoderLayer(384, 12, 1536, dropout=0.0, activation="gelu", batch_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)

    def forward(self, ids, mask):
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.norm(self.emb(ids) + self.pos(pos))
        return self.enc(h, src_key_padding_mask=mask == 0)


with torch.inference_mode():
    m = MiniLM().to(dev).eval()
    for b in (1, 32):
        ids = torch.randint(0, 30522, (b, 128), device=dev)
        mask = torch.ones(b, 128, dtype=torch.long, device=dev)
        print(f"torch eager MiniLM-shaped {b}x128: {median_ms(lambda: m(ids, mask)):.3f} ms")
    try:
        import torchvision
        r = torchvision.models.resnet18().to(dev).eval()
        x = torch.randn(1, 3, 224, 224, device=dev)
        print(f"torch eager ResNet-18 b1: {median_ms(lambda: r(x)):.3f} ms")
    except ImportError:
        print("torch eager ResNet-18 b1: skipped (torchvision not installed)")
    a = torch.randn(4096, 4096, device=dev)
    bm = torch.randn(4096, 4096, device=dev)
    ms = median_ms(lambda: a @ bm, warm=3, runs=20)
    print(f"torch matmul 4096^3 fp32: {ms:.3f} ms, {2 * 4096 ** 3 / ms / 1e9:.1f} TFLOP/s")
