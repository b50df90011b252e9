"""Generate the embedded demo case: a SIMULATED Kadrey-style corpus and ablation run table.

Nothing here is the result of training a model. The script writes two files next to itself:

* ``works.csv``    - 200 fictitious books (id, title, author, publisher, sector, tokens);
* ``runs.parquet`` - a long-format run table (run, seed, removed, benchmark, item, score)
  for 23 training configurations x 5 matched seeds x 3 benchmarks, scored item by item.

Run it as ``python cases/demo/generate.py``. It uses only numpy, pandas and pyarrow, draws
every random number from one ``numpy.random.Generator(PCG64(SEED))`` in a fixed order, and
writes byte-identical files on every run (for a given numpy/pyarrow version).

The simulation model, in plain words
------------------------------------
1. The corpus. 200 books stand for the books slice of a ~1B-parameter model's training
   mix (books are 4.5% of training tokens, as in LLaMA-1). Each book belongs to one
   publisher and each publisher to one sector, so work < publisher < sector nests.

2. Skills that saturate. Each sector s teaches the model a sector-specific "skill" whose
   level depends only on how many of that sector's tokens the model saw:

       h_s(T) = log(1 + KAPPA * T / T_full) / log(1 + KAPPA)

   h_s is 1 with the whole sector and 0 without it. KAPPA sets the redundancy: with
   KAPPA = 300 the first ~5% of a sector's tokens already give half of its skill, so
   the last book of a sector adds very little (diminishing returns through redundancy).
   Only fractions of each sector's tokens enter, so the model is scale-free: the demo's
   200 books stand for the books slice of the mix, not for its absolute token count.
   A second, cross-sector "books" skill saturates in the total book tokens the same way;
   it is lost only when most books go, so it adds to the no-books loss. Web text is
   the base level of the model and is not under valuation: removed book tokens are
   backfilled with web text (total tokens fixed) whose marginal value is taken as zero.

3. Benchmarks. Each benchmark weighs the skills differently (RELEVANCE, in logits):
   science/educational books matter most for ARC-Challenge, trade fiction and nonfiction
   for BoolQ, a little of everything for PIQA. For configuration c, seed k, item i:

       eta = a_b + sum_s RELEVANCE[b, s] * h_s(T_s(c)) + BOOKS_WEIGHT[b] * h_books(T(c))
             + delta_i                 item difficulty, fixed across runs
             + seed_effect[k, b]        shared by every configuration trained with seed k
             + config_seed[c, k, b]     smaller; retraining on other data is not identical
       p = chance_b + (1 - chance_b) * sigmoid(eta)

   a_b is solved so that the full model's expected accuracy equals FULL_ACCURACY[b].

4. Scores with common random numbers. One uniform U[k, i] per seed and item is shared by
   all configurations, and score = 1 if U[k, i] < p else 0. Removing one book moves p by
   ~1e-4, so it flips almost no item; what differs between two matched runs is mostly
   the config x seed term. This mimics paired evaluations of real models, where runs
   with the same seed agree on most items.

Calibration targets (checked by the summary this script prints): the full model's
accuracies are plausible for ~1B parameters, the seed SD of each benchmark's mean accuracy
is 0.3-1.5 points, removing one work changes macro accuracy by far less than 0.06 points,
a large publisher by 0.1-1 point, a sector by 1-5 points, all books by more, and removing
a sector costs clearly more than the sum of removing its publishers (or its works) one at
a time. Source tags on the constants refer to the project's FACTS.md (shared/FACTS.md):
[S] sourced, [S2] secondary source, [D] derived, [A] illustrative assumption.
"""

from __future__ import annotations

import itertools

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

# ---------------------------------------------------------------------------------------
# Assumptions (every number tagged with its source; see FACTS.md and README.md)
# ---------------------------------------------------------------------------------------

SEED = 20261204  # [A] literal seed of the one random generator

# Training setup
N_SEEDS = 5  # [A] seeds per arm (FACTS §7); Madaan et al. used 10, DataDecide 3 [S]
BOOKS_SHARE_OF_TOKENS = 0.045  # [S] LLaMA-1 Table 1: books are 4.5% of sampling
# Removed book tokens are backfilled with web text, total tokens fixed; web text's
# marginal value on these benchmarks is taken as zero. [A] (FACTS §7 token_budget_policy)

# Corpus
N_WORKS = 200  # [A] demo scale (FACTS §7 sketches a 20,000-book pool)
TOKENS_PER_BOOK_MEAN = 1.3e5  # [A] FACTS §7 tokens_per_book_mean
TOKENS_PER_BOOK_LOG_SD = 0.5  # [A] lognormal spread of book lengths
SECTOR_SHARES = {  # [A] FACTS §7, anchored to Bartz "about half edu/academic" [S]
    "trade_fiction": 0.30,
    "trade_nonfiction": 0.20,
    "academic": 0.20,
    "educational": 0.25,
    "sci_tech": 0.05,
}
# Trade publishers' shares of 2023 PW hardcover bestseller positions [S] (a proxy for
# market share only, used here [A] to split trade works among publishers).
TRADE_PUBLISHER_SHARES = {"PRH": 0.367, "HC": 0.160, "SS": 0.142, "HBG": 0.102, "MAC": 0.077}
# Publisher groups. Publishers must nest inside sectors, so the two largest trade houses
# are split by imprint into fiction and nonfiction groups; SS and HBG are placed wholly in
# fiction and MAC wholly in nonfiction. SELF (self-published) is placed in trade fiction.
# UP (university presses), EDU and STM (a sci-tech publisher, not named in FACTS §7) each
# make up their whole sector. All of this is [A].
PUBLISHERS_BY_SECTOR = {
    "trade_fiction": ["PRH-fiction", "HC-fiction", "SS", "HBG", "SELF"],
    "trade_nonfiction": ["PRH-nonfiction", "HC-nonfiction", "MAC"],
    "academic": ["UP"],
    "educational": ["EDU"],
    "sci_tech": ["STM"],
}
SELF_PUBLISHED_WORKS = 4  # [A] a small publisher whose every work gets its own LOO run
# The 13 named Kadrey plaintiffs (FACTS §3: the ruling covers "the 13 named authors" [S2]),
# mirrored as fictitious authors A01..A13; their publishers and sectors here are [A].
PLAINTIFF_PUBLISHERS = [
    "PRH-fiction", "PRH-nonfiction", "HC-fiction", "PRH-nonfiction", "PRH-fiction",
    "HC-fiction", "SS", "SS", "HBG", "HC-nonfiction", "PRH-fiction", "MAC", "HBG",
]
LOO_PLAINTIFF_WORKS = ["W001", "W002", "W007", "W010"]  # [A] plaintiff works retrained LOO

# Diminishing returns
KAPPA_SECTOR = 300.0  # [A] redundancy within a sector (first ~5% of tokens = half the skill)
KAPPA_BOOKS = 300.0  # [A] redundancy of the cross-sector books skill

# Benchmarks: item counts of the public releases: BoolQ validation 3,270 [S] (FACTS §7);
# ARC-Challenge test 1,172 and PIQA validation 1,838 [S, public releases, not in FACTS.md].
# Chance level of their formats: ARC mostly 4-way, PIQA 2-way, BoolQ yes/no [S, formats].
BENCHMARK_ITEMS = {"arc_challenge": 1172, "piqa": 1838, "boolq": 3270}
CHANCE = {"arc_challenge": 0.25, "piqa": 0.50, "boolq": 0.50}
FULL_ACCURACY = {"arc_challenge": 0.35, "piqa": 0.72, "boolq": 0.62}  # [A] ~1B model
ITEM_DIFFICULTY_SD = {"arc_challenge": 2.0, "piqa": 2.0, "boolq": 2.0}  # [A] logits
# Logit contribution of each sector's full skill to each benchmark [A]. Science and
# educational books matter most for ARC; fiction and nonfiction for BoolQ, whose
# improvement from adding books was 4.5-6% in Meta's ablations [S2] (unit unknown).
SECTORS = list(SECTOR_SHARES)
BENCHMARKS = list(BENCHMARK_ITEMS)
RELEVANCE = {  # rows: benchmark; columns: SECTORS order
    "arc_challenge": [0.10, 0.18, 0.35, 0.45, 0.30],
    "piqa": [0.16, 0.20, 0.08, 0.16, 0.10],
    "boolq": [0.32, 0.28, 0.16, 0.16, 0.08],
}
BOOKS_WEIGHT = {"arc_challenge": 0.40, "piqa": 0.20, "boolq": 0.30}  # [A] cross-sector skill
# Seed noise [A], calibrated so the seed SD of each benchmark's mean accuracy is
# 0.3-1.5 points [D] (FACTS §5); the config x seed term is smaller than the seed term.
SEED_SD_LOGIT = 0.05  # [A] shared by matched seeds across configurations
CONFIG_SEED_SD_LOGIT = 0.02  # [A] specific to one (configuration, seed) training run

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------

def largest_remainder(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Split `total` into integers proportional to `shares` (ties broken by key order)."""
    weights = np.array(list(shares.values()), dtype=float)
    raw = total * weights / weights.sum()
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return dict(zip(shares, counts.tolist()))


def make_works(rng: np.random.Generator) -> pd.DataFrame:
    sector_counts = largest_remainder(N_WORKS, SECTOR_SHARES)
    pub_counts: dict[str, int] = {}
    for sector, pubs in PUBLISHERS_BY_SECTOR.items():
        n = sector_counts[sector]
        if "SELF" in pubs:
            pub_counts["SELF"] = SELF_PUBLISHED_WORKS
            n -= SELF_PUBLISHED_WORKS
        trade = [p for p in pubs if p != "SELF"]
        if len(trade) == 1:
            pub_counts[trade[0]] = n
            continue
        shares = {p: TRADE_PUBLISHER_SHARES[p.split("-")[0]] for p in trade}
        pub_counts.update(largest_remainder(n, shares))
    sector_of = {p: s for s, pubs in PUBLISHERS_BY_SECTOR.items() for p in pubs}

    # plaintiffs first (W001-W013), then everyone else by sector and publisher
    publishers = list(PLAINTIFF_PUBLISHERS)
    left = dict(pub_counts)
    for p in PLAINTIFF_PUBLISHERS:
        left[p] -= 1
    for sector, pubs in PUBLISHERS_BY_SECTOR.items():
        for p in pubs:
            publishers += [p] * left[p]
    assert len(publishers) == N_WORKS and min(left.values()) >= 0

    n_plaintiffs = len(PLAINTIFF_PUBLISHERS)
    mu = np.log(TOKENS_PER_BOOK_MEAN) - TOKENS_PER_BOOK_LOG_SD**2 / 2  # mean = TOKENS_PER_BOOK_MEAN
    tokens = np.round(rng.lognormal(mu, TOKENS_PER_BOOK_LOG_SD, N_WORKS) / 100) * 100
    ids = [f"W{k:03d}" for k in range(1, N_WORKS + 1)]
    authors = [
        f"Author A{k:02d}" if k <= n_plaintiffs else f"Author N{k:03d}"
        for k in range(1, N_WORKS + 1)
    ]
    return pd.DataFrame({
        "id": ids,
        "title": [f"Work {k:03d}" for k in range(1, N_WORKS + 1)],
        "author": authors,
        "publisher": publishers,
        "sector": [sector_of[p] for p in publishers],
        "tokens": tokens.astype(np.int64),
    })


# ---------------------------------------------------------------------------------------
# Configurations and the latent model
# ---------------------------------------------------------------------------------------

def make_configs(works: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """(label, removed key, boolean mask of removed works) for every configuration."""
    n = len(works)
    configs = [("full", "", np.zeros(n, bool))]
    self_works = works.loc[works.publisher == "SELF", "id"].tolist()
    for w in LOO_PLAINTIFF_WORKS + self_works:
        configs.append((f"work-{w}", f"work:{w}", (works.id == w).to_numpy()))
    for sector, pubs in PUBLISHERS_BY_SECTOR.items():
        if len(pubs) == 1:  # same works as the sector: one configuration, recorded once
            continue
        for p in pubs:
            configs.append((f"publisher-{p}", f"publisher:{p}", (works.publisher == p).to_numpy()))
    for s in SECTORS:
        configs.append((f"sector-{s}", f"sector:{s}", (works.sector == s).to_numpy()))
    configs.append(("no-books", "work:*", np.ones(n, bool)))
    # every other coalition of the sectors (2, 3 or 4 of the 5 sectors removed), so the
    # sector-level game is complete: exact Shapley, Banzhaf, Beta and the least core
    for size in range(2, len(SECTORS)):
        for removed_sectors in itertools.combinations(SECTORS, size):
            key = ";".join(f"sector:{s}" for s in removed_sectors)
            label = "sectors-" + "+".join(removed_sectors)
            configs.append((label, key, works.sector.isin(removed_sectors).to_numpy()))
    return configs


def saturating(fraction: np.ndarray, kappa: float) -> np.ndarray:
    return np.log1p(kappa * fraction) / np.log1p(kappa)


def skill_logit(works: pd.DataFrame, removed: np.ndarray) -> np.ndarray:
    """Book contribution to the logit, per benchmark, for removal masks (configs x works)."""
    removed = np.atleast_2d(removed)
    tokens = works.tokens.to_numpy(float)
    kept = (~removed) * tokens
    out = np.zeros((removed.shape[0], len(BENCHMARKS)))
    for j, s in enumerate(SECTORS):
        in_s = (works.sector == s).to_numpy()
        h = saturating(kept[:, in_s].sum(1) / tokens[in_s].sum(), KAPPA_SECTOR)
        out += np.outer(h, [RELEVANCE[b][j] for b in BENCHMARKS])
    h_books = saturating(kept.sum(1) / tokens.sum(), KAPPA_BOOKS)
    out += np.outer(h_books, [BOOKS_WEIGHT[b] for b in BENCHMARKS])
    return out


def accuracy(eta: np.ndarray, chance: float) -> np.ndarray:
    return chance + (1.0 - chance) / (1.0 + np.exp(-eta))


def solve_intercept(target: float, chance: float, base: np.ndarray) -> float:
    lo, hi = -20.0, 20.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if accuracy(mid + base, chance).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

def simulate(rng: np.random.Generator):
    works = make_works(rng)
    configs = make_configs(works)
    masks = np.array([m for _, _, m in configs])
    book_logit = skill_logit(works, masks)  # configs x benchmarks
    full_logit = book_logit[0]

    difficulty = {b: rng.normal(0.0, ITEM_DIFFICULTY_SD[b], BENCHMARK_ITEMS[b]) for b in BENCHMARKS}
    intercept = {
        b: solve_intercept(FULL_ACCURACY[b], CHANCE[b], full_logit[j] + difficulty[b])
        for j, b in enumerate(BENCHMARKS)
    }
    seed_effect = rng.normal(0.0, SEED_SD_LOGIT, (N_SEEDS, len(BENCHMARKS)))
    config_seed = rng.normal(0.0, CONFIG_SEED_SD_LOGIT, (len(configs), N_SEEDS, len(BENCHMARKS)))
    uniforms = {b: rng.random((N_SEEDS, BENCHMARK_ITEMS[b])) for b in BENCHMARKS}

    blocks = []  # one per (config, seed, benchmark)
    for c, (label, removed, _) in enumerate(configs):
        for k in range(N_SEEDS):
            run = f"{label}@seed{k + 1}"
            for j, b in enumerate(BENCHMARKS):
                eta = (intercept[b] + book_logit[c, j] + difficulty[b]
                       + seed_effect[k, j] + config_seed[c, k, j])
                score = (uniforms[b][k] < accuracy(eta, CHANCE[b])).astype(np.float64)
                blocks.append((run, k + 1, removed, b, score))
    model = dict(works=works, configs=configs, difficulty=difficulty, intercept=intercept)
    return works, blocks, model


def runs_table(blocks) -> pa.Table:
    blocks = sorted(blocks, key=lambda t: (t[0], t[3]))  # by run, then benchmark
    items = {b: [f"{b}-{i:04d}" for i in range(1, n + 1)] for b, n in BENCHMARK_ITEMS.items()}
    item_dict = sorted(i for b in BENCHMARKS for i in items[b])
    item_index = {s: i for i, s in enumerate(item_dict)}
    item_codes = {b: np.array([item_index[s] for s in items[b]], np.int32) for b in BENCHMARKS}

    def encode(values: list[str], lengths: list[int]) -> pa.DictionaryArray:
        dictionary = sorted(set(values))
        code = {v: i for i, v in enumerate(dictionary)}
        idx = np.repeat(np.array([code[v] for v in values], np.int32), lengths)
        return pa.DictionaryArray.from_arrays(pa.array(idx), pa.array(dictionary, pa.string()))

    lengths = [len(t[4]) for t in blocks]
    table = pa.table({
        "run": encode([t[0] for t in blocks], lengths),
        "seed": pa.array(np.repeat([t[1] for t in blocks], lengths).astype(np.int64)),
        "removed": encode([t[2] for t in blocks], lengths),
        "benchmark": encode([t[3] for t in blocks], lengths),
        "item": pa.DictionaryArray.from_arrays(
            pa.array(np.concatenate([item_codes[t[3]] for t in blocks])),
            pa.array(item_dict, pa.string())),
        "score": pa.array(np.concatenate([t[4] for t in blocks])),
    })
    return table


def summary(works: pd.DataFrame, model: dict, runs: pd.DataFrame) -> str:
    """Noise-free (expected) and observed LOO per configuration, in accuracy points."""
    lines = []
    configs = model["configs"]

    def expected(masks: np.ndarray) -> np.ndarray:
        logit = skill_logit(works, masks)
        acc = np.array([[accuracy(model["intercept"][b] + logit[c, j] + model["difficulty"][b],
                                   CHANCE[b]).mean() for j, b in enumerate(BENCHMARKS)]
                        for c in range(len(masks))])
        return acc

    full = expected(np.zeros((1, len(works)), bool))[0]
    masks = np.array([m for _, _, m in configs])
    exp_loo = 100 * (full - expected(masks))
    per_seed = runs.groupby(["removed", "seed", "benchmark"]).score.mean().unstack("benchmark")[BENCHMARKS]
    base = per_seed.loc[""]
    lines.append(f"books slice: {works.tokens.sum():.3g} tokens; at a {BOOKS_SHARE_OF_TOKENS:.1%} "
                 f"books share the whole mix would be {works.tokens.sum() / BOOKS_SHARE_OF_TOKENS:.3g} "
                 "tokens at demo scale (the model is scale-free)")
    lines.append("full model accuracy by seed (points):")
    lines.append((100 * base).round(2).to_string())
    theory = []
    for j, b in enumerate(BENCHMARKS):
        eta = model["intercept"][b] + skill_logit(works, np.zeros(len(works), bool))[0, j] + model["difficulty"][b]
        p = accuracy(eta, CHANCE[b])
        slope = ((p - CHANCE[b]) * (1 - p) / (1 - CHANCE[b])).mean()  # d mean(p) / d eta
        var = (p * (1 - p)).mean() / len(p) + slope**2 * (SEED_SD_LOGIT**2 + CONFIG_SEED_SD_LOGIT**2)
        theory.append(f"{b} {100 * np.sqrt(var):.2f}")
    lines.append("seed SD of full-model accuracy, model-implied (points): " + ", ".join(theory))
    lines.append("seed SD of full-model accuracy, 5 simulated seeds (points): "
                 + ", ".join(f"{b} {100 * base[b].std(ddof=1):.2f}" for b in BENCHMARKS))
    head = f"{'removed':28s} {'exp.macro':>9s} {'obs.macro':>9s} " + " ".join(f"{b[:9]:>9s}" for b in BENCHMARKS)
    lines.append("LOO = full - ablated, points; exp = noise-free, obs = mean over matched seeds")
    lines.append(head)
    for c, (_, removed, _) in enumerate(configs[1:], start=1):
        diff = 100 * (base - per_seed.loc[removed]).mean()
        lines.append(f"{removed:28s} {exp_loo[c].mean():9.4f} {diff.mean():9.4f} "
                     + " ".join(f"{diff[b]:9.4f}" for b in BENCHMARKS))
    # grouping gap, noise-free: sector vs sum of its publishers vs sum of its works
    lines.append("noise-free grouping gap (macro points): sector | sum of publishers | sum of works")
    for s in SECTORS:
        in_s = (works.sector == s).to_numpy()
        sec = 100 * (full - expected(in_s[None]))[0].mean()
        pubs = sum(100 * (full - expected((works.publisher == p).to_numpy()[None]))[0].mean()
                   for p in PUBLISHERS_BY_SECTOR[s])
        single = np.eye(len(works), dtype=bool)[in_s]
        each = 100 * (full - expected(single)).mean(1)
        lines.append(f"  {s:18s} {sec:7.3f} | {pubs:7.3f} | {each.sum():7.3f}"
                     f"   (max single work {each.max():.4f})")
    return "\n".join(lines)


def main() -> None:
    rng = np.random.Generator(np.random.PCG64(SEED))
    works, blocks, model = simulate(rng)
    works.to_csv(HERE / "works.csv", index=False, lineterminator="\n")
    table = runs_table(blocks)
    pq.write_table(table, HERE / "runs.parquet", compression="zstd", use_dictionary=True,
                   row_group_size=1 << 20)
    runs = table.to_pandas()
    for col in ("run", "removed", "benchmark", "item"):
        runs[col] = runs[col].astype(str)
    print(summary(works, model, runs))


if __name__ == "__main__":
    main()
