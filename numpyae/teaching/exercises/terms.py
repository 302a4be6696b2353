"""Diagnosis by named terms: which part of a gradient a student left out, flipped or doubled.

An exercise may declare an output's gradient as a sum of named terms or paths
(catalog.Term; Exercise(terms={output: [...]})): the contractive penalty's dW is "through h" +
"direct", a tied autoencoder's dW is "encoder use" + "decoder use", softmax cross-entropy's dz is
"softmax" + "one-hot". When the student's output is wrong, it is compared with every variant of
that sum in which each term has one of these coefficients:

    1    the term is there, as it should be
    0    the term is missing
    -1   the term is there with the wrong sign
    2    the term is counted twice

(a term declared ``extra`` belongs to no right answer: its right coefficient is 0, and 1 or -1
mean it was added). The variant that equals the answer within the checker's tolerance with the
fewest departures from the right sum names the terms. Failing that, an answer equal to the
right sum with ONE term multiplied by a constant (a 1/B forgotten in one term only) is named by
that term and the factor's likely cause. Variants that change every term alike (all
missing, all flipped, all doubled) are left to the general verdicts (a zero answer, "wrong
sign", "factor 2"), and so is the right sum. With n terms there are 4^n variants (n <= MAX_TERMS).
"""
from __future__ import annotations

import itertools

import numpy as np

#: the most terms one output may declare (4^6 = 4096 variants to compare)
MAX_TERMS = 6

#: coefficient -> what it says about a term that belongs to the answer
WRONG = {0.0: "missing", -1.0: "wrong sign", 2.0: "counted twice"}

#: coefficient -> what it says about an extra term (one that does not belong to the answer)
WRONG_EXTRA = {1.0: "extra", -1.0: "extra"}


def term_values(terms, inputs, shape):
    """Each term's contribution at these inputs, as a float64 array of the output's shape
    (None for a term whose value does not broadcast to it)."""
    out = []
    for t in terms:
        with np.errstate(all="ignore"):
            v = np.asarray(t.value(**{k: (v.copy() if isinstance(v, np.ndarray) else v)
                                      for k, v in inputs.items()}), dtype=np.float64)
        try:
            out.append(np.broadcast_to(v, shape))
        except ValueError:
            raise ValueError(f"term {t.name!r} has shape {v.shape}, which does not broadcast to "
                             f"its output's shape {shape}") from None
    return out


def _options(term):
    """The coefficients tried for a term, its right one first."""
    return (0.0, 1.0, -1.0) if term.extra else (1.0, 0.0, -1.0, 2.0)


def match(terms, values, s, e, close):
    """The coefficients (one per term) of the variant of the sum that equals the answer s, or
    None. close(a, b) is the checker's comparison; e the true output (a variant equal to it is
    no diagnosis)."""
    right = tuple(_options(t)[0] for t in terms)
    best = None
    for coeffs in itertools.product(*(_options(t) for t in terms)):
        if coeffs == right:
            continue
        real = [c for c, t in zip(coeffs, terms) if not t.extra]
        if real and len(set(real)) == 1 and real[0] != 1 and not any(
                c for c, t in zip(coeffs, terms) if t.extra):
            continue      # every term alike: zero, the sign or a factor 2, said better elsewhere
        changes = sum(c != r for c, r in zip(coeffs, right))
        if best is not None and changes >= best[0]:
            continue
        combo = sum((c * v for c, v in zip(coeffs, values) if c), np.zeros(s.shape))
        if close(s, combo) and not close(combo, e):
            best = (changes, coeffs)
    return None if best is None else best[1]


def scaled(terms, values, s, e, close):
    """(index, factor) when the answer s equals the right sum with one term (not an extra one)
    multiplied by a constant factor other than 1 (a 1/B forgotten in one term only), else None.
    The factor is the least-squares one, then checked entry by entry with close()."""
    total = sum((v for v, t in zip(values, terms) if not t.extra), np.zeros(s.shape))
    for i, (v, t) in enumerate(zip(values, terms)):
        vv = float(np.vdot(v, v))
        if t.extra or vv == 0:
            continue
        rest = total - v
        c = float(np.vdot(s - rest, v)) / vv
        if abs(c - 1) > 1e-6 and c != 0 and close(s, rest + c * v) and not close(s, e):
            return i, c
    return None


def describe_scaled(output, terms, i, c, causes):
    """(message, label, {"off by a factor": [name]}) for term i multiplied by c; causes are the
    checker's likely causes of that factor (may be empty)."""
    name = terms[i].name
    why = "; ".join(causes) if causes else "no common cause; recheck the constants"
    msg = (f"{output} has the term '{name}' off by a constant factor: yours = {c:.6g} x "
           f"'{name}' + the other terms. Likely cause: {why}")
    if terms[i].hint:
        msg += f"\n  '{name}': {terms[i].hint}"
    return msg, f"{output}: term '{name}' off by a factor", {"off by a factor": [name]}


def _expression(terms, coeffs):
    """"'softmax' - 'one-hot'": a variant of the sum in words."""
    text = ""
    for c, t in zip(coeffs, terms):
        if c == 0:
            continue
        name = f"2 x '{t.name}'" if abs(c) == 2 else f"'{t.name}'"
        if not text:
            text = name if c > 0 else f"-{name}"
        else:
            text += f" {'+' if c > 0 else '-'} {name}"
    return text or "0"


def describe(output, terms, coeffs):
    """(message, short label, {verdict: [term names]}) for the variant `coeffs` of the sum."""
    found = {}
    for c, t in zip(coeffs, terms):
        verdict = (WRONG_EXTRA if t.extra else WRONG).get(c)
        if verdict is not None:
            found.setdefault(verdict, []).append(t.name)
    said = {"missing": "is missing the term{s} {names}",
            "wrong sign": "has the term{s} {names} with the wrong sign",
            "counted twice": "counts the term{s} {names} twice",
            "extra": "has the extra term{s} {names}, which {do} not belong in it"}
    clauses = [said[v].format(s="s" if len(n) > 1 else "", do="do" if len(n) > 1 else "does",
                              names=" and ".join(f"'{x}'" for x in n))
               for v, n in found.items()]
    right = tuple(0.0 if t.extra else 1.0 for t in terms)
    msg = (f"{output} {'; it '.join(clauses)}: yours = {_expression(terms, coeffs)}, the true "
           f"{output} = {_expression(terms, right)}")
    hints = [f"  '{t.name}': {t.hint}" for c, r, t in zip(coeffs, right, terms) if c != r and t.hint]
    if hints:
        msg += "\n" + "\n".join(hints)
    label = "; ".join(f"{v} {', '.join(repr(x) for x in n)}" if v != "missing" else
                      f"missing term {', '.join(repr(x) for x in n)}" for v, n in found.items())
    label = label.replace("wrong sign ", "term with the wrong sign ").replace(
        "counted twice ", "term counted twice ").replace("extra ", "extra term ")
    return msg, f"{output}: {label}", found


def headline(found):
    """"missing term: decoder use": the verdict's kind in the headline of a check."""
    words = {"missing": "missing term", "wrong sign": "term with the wrong sign",
             "counted twice": "term counted twice", "extra": "extra term",
             "off by a factor": "term off by a constant factor"}
    return "; ".join(f"{words[v]}{'s' if len(n) > 1 else ''}: {', '.join(n)}"
                     for v, n in found.items())
