"""Trains a second small LLaMA (the stories260K architecture) on text other than TinyStories, and writes it as a
llama2.c checkpoint, so the built-in predictor can be checked on a trained model it never saw.

Usage: /usr/bin/python3 bench/predictor/train_tiny_llama.py <text.txt> <tok512.bin> <out.bin> [steps] [batch]
(the token ids are cached in <out.bin>.tokens.pt: llama2.c's merge loop in Python takes minutes)
Needs PyTorch (Debian: apt-get install python3-torch). Deterministic for a given PyTorch build (seeded, 1 thread
per op set by the caller's OMP settings). Not part of the test suite: bench/predictor/second-model.sh runs it.
"""
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ = 64, 172, 5, 8, 4, 512, 256
# Training windows: attention with head_dim 8 is slow on Debian's generic-BLAS PyTorch; compile with context <= this.
TRAIN_SEQ = 128


def load_tokenizer(path):
    vocab, scores = [], []
    with open(path, "rb") as f:
        f.read(4)  # max token length
        while True:
            head = f.read(8)
            if len(head) < 8:
                break
            score, n = struct.unpack("<fi", head)
            vocab.append(f.read(n).decode("utf-8", errors="surrogateescape"))
            scores.append(score)
    return vocab, scores


def encode(text, vocab, scores, index):
    """llama2.c's encode: dummy-prefix space, characters (else their bytes + 3), then best-score pair merges."""
    if not text:
        return []
    ids = [index[" "]]
    for ch in text:
        if ch in index:
            ids.append(index[ch])
        else:
            ids.extend(b + 3 for b in ch.encode("utf-8"))
    while True:
        best, best_i, best_id = -1e10, -1, -1
        for i in range(len(ids) - 1):
            merged = vocab[ids[i]] + vocab[ids[i + 1]]
            j = index.get(merged)
            if j is not None and scores[j] > best:
                best, best_i, best_id = scores[j], i, j
        if best_i < 0:
            return ids
        ids[best_i:best_i + 2] = [best_id]


def rope(x, cos, sin):
    # x: [B, H, T, D]; rotate consecutive pairs (2i, 2i+1) as llama2.c does.
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2)


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        hd = DIM // HEADS
        self.attention_norm, self.ffn_norm = RMSNorm(DIM), RMSNorm(DIM)
        self.wq = nn.Linear(DIM, DIM, bias=False)
        self.wk = nn.Linear(DIM, KV_HEADS * hd, bias=False)
        self.wv = nn.Linear(DIM, KV_HEADS * hd, bias=False)
        self.wo = nn.Linear(DIM, DIM, bias=False)
        self.w1 = nn.Linear(DIM, HIDDEN, bias=False)
        self.w2 = nn.Linear(HIDDEN, DIM, bias=False)
        self.w3 = nn.Linear(DIM, HIDDEN, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        hd = DIM // HEADS
        h = self.attention_norm(x)
        q = self.wq(h).view(b, t, HEADS, hd).transpose(1, 2)
        k = self.wk(h).view(b, t, KV_HEADS, hd).transpose(1, 2)
        v = self.wv(h).view(b, t, KV_HEADS, hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        k = k.repeat_interleave(HEADS // KV_HEADS, dim=1)
        v = v.repeat_interleave(HEADS // KV_HEADS, dim=1)
        # Written out (PyTorch 1.13, Debian's, has no scaled_dot_product_attention).
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        a = torch.softmax(scores, dim=-1) @ v
        x = x + self.wo(a.transpose(1, 2).reshape(b, t, DIM))
        h = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = RMSNorm(DIM)
        hd = DIM // HEADS
        freqs = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        angles = torch.outer(torch.arange(SEQ).float(), freqs)
        self.register_buffer("cos", torch.cos(angles), persistent=False)
        self.register_buffer("sin", torch.sin(angles), persistent=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * LAYERS) if n.endswith(("wo.weight", "w2.weight")) else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.tok_embeddings(ids)
        for layer in self.layers:
            x = layer(x, self.cos[:t], self.sin[:t])
        return self.norm(x) @ self.tok_embeddings.weight.T  # tied classifier


def export(model, path):
    def w(f, t):
        f.write(t.detach().float().contiguous().numpy().astype("<f4").tobytes())

    with open(path, "wb") as f:
        f.write(struct.pack("<7i", DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ))
        w(f, model.tok_embeddings.weight)
        for name in ["attention_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3"]:
            for layer in model.layers:
                w(f, getattr(layer, name).weight)
        w(f, model.norm.weight)
        w(f, model.cos)
        w(f, model.sin)


def main():
    text_path, tok_path, out_path = sys.argv[1:4]
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 1500
    torch.manual_seed(1)
    torch.set_num_threads(2)
    vocab, scores = load_tokenizer(tok_path)
    index = {}
    for i, piece in enumerate(vocab):
        index.setdefault(piece, i)
    cache = out_path + ".tokens.pt"
    try:
        data = torch.load(cache)
    except FileNotFoundError:
        text = open(text_path, encoding="utf-8").read()
        stream = []
        for para in text.split("\n\n"):
            para = " ".join(para.split())
            if para:
                stream.append(1)  # BOS
                stream.extend(encode(para, vocab, scores, index))
        data = torch.tensor(stream, dtype=torch.long)
        torch.save(data, cache)
    stream = data.tolist()
    print(f"{len(stream)} training tokens", file=sys.stderr)

    model = Model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01, betas=(0.9, 0.95))
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 12
    for step in range(steps):
        lr = 3e-3 * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(data) - TRAIN_SEQ - 1, (batch,))
        x = torch.stack([data[s:s + TRAIN_SEQ] for s in starts])
        y = torch.stack([data[s + 1:s + TRAIN_SEQ + 1] for s in starts])
        loss = F.cross_entropy(model(x).view(-1, VOCAB), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.3f} ppl {math.exp(loss.item()):.2f}", file=sys.stderr)
    export(model, out_path)


if __name__ == "__main__":
    main()
