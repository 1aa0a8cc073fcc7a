"""Training throughput of the `small` model in PyTorch eager: the peer of `icrl train`.

What it measures: training tokens/s (one token per environment step) of the model that
`icrl train --preset small --model pattern=SSSS` builds for Dark Room data (one domain group:
obs_dim 2, 5 discrete actions), at batch 8 windows x 200 steps, f32 on the CPU, one torch
thread by default. Each timed step is what the Rust trainer does per optimizer step
(agent/src/train/trainer.rs, `train_step` with accumulation 1): zero the gradients, forward,
loss, backward, read the loss, clip the global gradient norm to 1, set the learning rate of
the schedule, AdamW step. It prints the parameter count (compare with
`icrl model info --config CONFIG.json`, a model config with pattern "SSSS" and the dark-room
group only: 3,307,262), per-step times, and one JSON line at the end.

Data: random but well-formed batches (observations as f32 of width 2, previous and target
actions in [0, 5), previous rewards in {0, 1}, episode starts every 20 steps at a random
phase per window, as Dark Room's 20-step episodes give), generated once before timing: this
peer measures compute only. The Rust side draws windows from the HDF5 dataset and builds
its tensors inside each step; that is part of what is compared, by design.

The model, as agent/src/model builds it (config.rs `Config::small()`, pattern "SSSS"):
  * token per step (encoders.rs): concat[obs MLP (Linear-LeakyReLU-LayerNorm, twice) -> 127,
    action Embedding(5, 127), LeakyReLU(Linear(1, 2)) of the reward] = 256; at episode starts
    the action and reward parts are learned padding vectors;
  * 4 pre-norm blocks (block.rs): x + attn(LN(x)), then x + FFN(LN(x));
  * attention (softmax.rs): q, k, v, out Linear(256, 256) without bias, 4 heads of 64,
    LayerNorm(64) on q and k per head (QK-norm), ALiBi slopes 2^(-8h/H), causal sliding
    window of 1024 steps, queries in chunks of 256, through scaled_dot_product_attention
    with an additive float bias (masked entries -1e9, as the Rust code uses);
  * FFN (ffn.rs): Linear(256, 1024) - exact GELU - Linear(1024, 256), with biases;
  * final LayerNorm, then the decoder: 2 x [Linear(256, 256), LeakyReLU], Linear(256, 5);
  * loss: cross-entropy of the 5 logits against the target action, mean over B x T;
  * init (layers.rs): backbone weights N(0, 0.02), out/down projections N(0, 0.02/sqrt(2L)),
    zero biases; encoder and decoder Linears PyTorch's default; Embedding and paddings N(0, 1);
  * optimizer (optim.rs, config.rs): AdamW lr 3e-4, betas (0.9, 0.99), eps 1e-8, weight decay
    0.1 on tensors of 2+ dimensions only; global grad-norm clip 1.0; linear warmup over
    ceil(0.005 x total) steps then cosine to 0 (total = warmup + timed steps here).

Differences from the Rust code (none changes the arithmetic of a step):
  * the ALiBi bias is built once per forward and shared by the 4 layers (their slopes are
    the same); the Rust code builds it in every layer (a few small element-wise ops each);
  * key ranges of a chunk are not widened to a multiple of 16 (a CUDA alignment detail of
    the Rust code; at T = 200 there is one chunk of all 200 keys either way);
  * torch.optim.AdamW (its default, the per-tensor loop on the CPU) instead of the Rust
    loop's own ops (same formulas), clip_grad_norm_ instead of the Rust norm (same scale
    max / (norm + 1e-6)), and zero_grad(set_to_none=True), PyTorch's default, where the
    Rust optimizer zeroes the gradients in place;
  * cross_entropy in place of log_softmax + gather + mean (the same value).

Usage: taskset -c 1 .venv/bin/python scripts/bench_train_torch.py [--threads 1]
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HIDDEN, LAYERS, HEADS, FFN_HIDDEN = 256, 4, 4, 1024
REWARD_EMBED, DECODER_LAYERS = 2, 2
WINDOW, CHUNK = 1024, 256
OBS_DIM, N_ACTIONS, EPISODE = 2, 5, 20
INIT_STD, MASKED = 0.02, -1e9


def backbone_linear(d_in, d_out, bias, std):
    layer = nn.Linear(d_in, d_out, bias=bias)
    nn.init.normal_(layer.weight, 0.0, std)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


def alibi_slopes(heads):
    return torch.tensor([2.0 ** (-8.0 * h / heads) for h in range(1, heads + 1)])


def attention_plan(slopes, t, window, chunk):
    """Per query chunk: (q0, nq, k0, nk, bias (1, H, nq, nk)), the bias -slope * (i - j)
    where 0 <= i - j < window, else MASKED. Shared by every layer of one forward."""
    w, cq = min(window, t), min(chunk, t)
    plan = []
    for q0 in range(0, t, cq):
        nq = min(cq, t - q0)
        k0 = max(q0 - (w - 1), 0)
        nk = q0 + nq - k0
        dist = torch.arange(q0, q0 + nq).unsqueeze(1) - torch.arange(k0, k0 + nk).unsqueeze(0)
        allowed = (dist >= 0) & (dist < window)
        bias = (-slopes.view(-1, 1, 1) * dist).masked_fill(~allowed, MASKED)
        plan.append((q0, nq, k0, nk, bias.unsqueeze(0).contiguous()))
    return plan


class SoftmaxAttention(nn.Module):
    def __init__(self):
        super().__init__()
        d, dh = HIDDEN, HIDDEN // HEADS
        self.q = backbone_linear(d, d, False, INIT_STD)
        self.k = backbone_linear(d, d, False, INIT_STD)
        self.v = backbone_linear(d, d, False, INIT_STD)
        self.q_norm = nn.LayerNorm(dh)
        self.k_norm = nn.LayerNorm(dh)
        self.out = backbone_linear(d, d, False, INIT_STD / math.sqrt(2 * LAYERS))

    def forward(self, x, plan):
        b, t, d = x.shape
        split = lambda y: y.view(b, t, HEADS, d // HEADS).transpose(1, 2)  # (B, H, T, dh)
        q = self.q_norm(split(self.q(x)))
        k = self.k_norm(split(self.k(x)))
        v = split(self.v(x))
        outs = [
            F.scaled_dot_product_attention(
                q[:, :, q0:q0 + nq], k[:, :, k0:k0 + nk], v[:, :, k0:k0 + nk], attn_mask=bias
            )
            for q0, nq, k0, nk, bias in plan
        ]
        o = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
        return self.out(o.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm_mixer = nn.LayerNorm(HIDDEN)
        self.mixer = SoftmaxAttention()
        self.norm_ffn = nn.LayerNorm(HIDDEN)
        self.up = backbone_linear(HIDDEN, FFN_HIDDEN, True, INIT_STD)
        self.down = backbone_linear(FFN_HIDDEN, HIDDEN, True, INIT_STD / math.sqrt(2 * LAYERS))

    def forward(self, x, plan):
        x = x + self.mixer(self.norm_mixer(x), plan)
        return x + self.down(F.gelu(self.up(self.norm_ffn(x))))


class MlpEncoder(nn.Module):
    """Linear-LeakyReLU-LayerNorm-Linear-LeakyReLU-LayerNorm."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.l1, self.n1 = nn.Linear(d_in, d_out), nn.LayerNorm(d_out)
        self.l2, self.n2 = nn.Linear(d_out, d_out), nn.LayerNorm(d_out)

    def forward(self, x):
        return self.n2(F.leaky_relu(self.l2(self.n1(F.leaky_relu(self.l1(x))))))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        e_act = (HIDDEN - REWARD_EMBED) // 2
        e_obs = HIDDEN - REWARD_EMBED - e_act
        self.obs = MlpEncoder(OBS_DIM, e_obs)
        self.act = nn.Embedding(N_ACTIONS, e_act)  # N(0, 1), as the Rust Embedding
        self.rew = nn.Linear(1, REWARD_EMBED)
        self.act_pad = nn.Parameter(torch.randn(e_act))
        self.rew_pad = nn.Parameter(torch.randn(REWARD_EMBED))
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.final_norm = nn.LayerNorm(HIDDEN)
        self.decoder = nn.ModuleList(nn.Linear(HIDDEN, HIDDEN) for _ in range(DECODER_LAYERS))
        self.head = nn.Linear(HIDDEN, N_ACTIONS)
        self.register_buffer("slopes", alibi_slopes(HEADS), persistent=False)

    def forward(self, obs, prev_actions, prev_rewards, start, targets):
        """obs (B, T, 2) f32, prev_actions and targets (B, T) int64, prev_rewards (B, T) f32,
        start (B, T) bool -> scalar loss."""
        o = self.obs(obs)
        a = self.act(prev_actions.masked_fill(start, 0))
        r = F.leaky_relu(self.rew(prev_rewards.unsqueeze(-1)))
        keep = ~start.unsqueeze(-1)
        a = torch.where(keep, a, self.act_pad)
        r = torch.where(keep, r, self.rew_pad)
        x = torch.cat([o, a, r], dim=-1)
        plan = attention_plan(self.slopes, x.shape[1], WINDOW, CHUNK)
        for block in self.blocks:
            x = block(x, plan)
        h = self.final_norm(x)
        for layer in self.decoder:
            h = F.leaky_relu(layer(h))
        logits = self.head(h)
        return F.cross_entropy(logits.view(-1, N_ACTIONS), targets.view(-1))


def random_batch(b, t, gen):
    """A well-formed Dark Room batch: 20-step episodes starting at a random phase per window."""
    obs = torch.randn(b, t, OBS_DIM, generator=gen)
    prev_actions = torch.randint(0, N_ACTIONS, (b, t), generator=gen)
    targets = torch.randint(0, N_ACTIONS, (b, t), generator=gen)
    prev_rewards = torch.randint(0, 2, (b, t), generator=gen).float()
    phase = torch.randint(0, EPISODE, (b, 1), generator=gen)
    start = (torch.arange(t).unsqueeze(0) + phase) % EPISODE == 0
    return obs, prev_actions, prev_rewards, start, targets


def lr_at(step, total, lr=3e-4, min_lr=0.0, warmup_fraction=0.005):
    """OptimConfig::lr_at: linear warmup, then cosine to min_lr."""
    warmup = max(math.ceil(warmup_fraction * total), 1)
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--context", type=int, default=200)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Model()
    n_params = sum(t.numel() for t in model.parameters())
    print(f"parameters: {n_params:,}")

    decay = [t for t in model.parameters() if t.dim() >= 2]
    no_decay = [t for t in model.parameters() if t.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=3e-4, betas=(0.9, 0.99), eps=1e-8,
    )

    total = args.warmup + args.steps
    gen = torch.Generator().manual_seed(0)
    batches = [random_batch(args.batch, args.context, gen) for _ in range(total)]

    times = []
    for step, batch in enumerate(batches):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = model(*batch)
        loss.backward()
        loss_value = loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        lr = lr_at(step, total)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        seconds = time.perf_counter() - t0
        timed = step >= args.warmup
        if timed:
            times.append(seconds)
        print(f"step {step + 1:3d}{'' if timed else ' (warmup)'}: loss {loss_value:.4f}, "
              f"{seconds * 1e3:.1f} ms")

    elapsed = sum(times)
    tokens = args.steps * args.batch * args.context
    print(json.dumps({
        "tokens_per_second": tokens / elapsed,
        "median_step_seconds": statistics.median(times),
        "min_step_seconds": min(times),
        "steps": args.steps,
        "batch": args.batch,
        "context": args.context,
        "parameters": n_params,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
