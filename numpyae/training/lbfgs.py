"""L-BFGS: full-batch quasi-Newton minimization, written here in NumPy.

lbfgs(fun, x0) minimizes a smooth f: R^n -> R given fun(x) -> (f, g = grad f(x)) on a flat
float64 vector. minimize(model, X) runs it on a numpyae Model's full-batch loss, as the UFLDL
sparse-autoencoder exercise did with minFunc, and returns a History like fit's.

The method (Nocedal & Wright, Numerical Optimization, 2nd ed., Algorithms 7.4, 7.5, 3.5, 3.6).
Iteration k, from x_k with gradient g_k:

    d_k     = -H_k g_k                  H_k approximates the inverse Hessian (two-loop recursion)
    x_{k+1} = x_k + alpha_k d_k         alpha_k from a line search: strong Wolfe conditions
    s_k = x_{k+1} - x_k,   y_k = g_{k+1} - g_k,   rho_k = 1 / (y_k^T s_k)

H_k is the BFGS inverse-Hessian update  H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T
applied to H_k^0 = gamma_k I with the m most recent pairs, never formed: the two-loop recursion
computes r = H_k q in O(m n) (Algorithm 7.4):

    q = g_k
    for i = k-1, k-2, ..., k-m:      a_i = rho_i s_i^T q;      q = q - a_i y_i
    r = gamma_k q,                   gamma_k = s_{k-1}^T y_{k-1} / (y_{k-1}^T y_{k-1})
    for i = k-m, ..., k-2, k-1:      b = rho_i y_i^T r;        r = r + s_i (a_i - b)
    d_k = -r

gamma_k scales H_k^0 to the curvature measured along the latest step, so alpha = 1 is usually
accepted at once. A pair enters the memory only if it has positive curvature,
s^T y > eps ||s|| ||y|| (eps = 1e-10): otherwise the update would lose positive definiteness,
and the pair is skipped (counted in the result). With the strong Wolfe conditions below,
s^T y >= (1 - c2) alpha |g_k^T d_k| > 0, so skips occur only through rounding.

Line search on phi(alpha) = f(x_k + alpha d_k), phi'(alpha) = grad f(x_k + alpha d_k)^T d_k.
A step alpha is accepted when it satisfies the strong Wolfe conditions (0 < c1 < c2 < 1):

    phi(alpha)     <= phi(0) + c1 alpha phi'(0)        sufficient decrease (c1 = 1e-4)
    |phi'(alpha)|  <= c2 |phi'(0)|                     curvature (c2 = 0.9)

Bracketing (Algorithm 3.5): try alpha_1 = 1 (min(1, 1/||g||_2) on a steepest-descent step, the
first one or after a reset); a trial that violates sufficient decrease, or is no lower than the
previous trial, brackets a solution with the previous one; a trial with phi' >= 0 brackets one
with the previous; otherwise extrapolate to alpha in [2 alpha_i - alpha_{i-1},
11 alpha_i - 10 alpha_{i-1}] (the minimizer of the cubic through the last two trials, clamped).
Zoom (Algorithm 3.6) keeps an interval [alpha_lo, alpha_hi] that contains strong Wolfe steps,
alpha_lo the lowest sufficient-decrease trial so far, and tries the minimizer of the cubic
interpolating phi and phi' at both ends (Nocedal & Wright eq. 3.59),

    d1 = phi'_lo + phi'_hi - 3 (phi_lo - phi_hi) / (alpha_lo - alpha_hi)
    d2 = sign(alpha_hi - alpha_lo) sqrt(d1^2 - phi'_lo phi'_hi)
    alpha = alpha_hi - (alpha_hi - alpha_lo) (phi'_hi + d2 - d1) / (phi'_hi - phi'_lo + 2 d2),

falling back to the minimizer of the quadratic through phi_lo, phi'_lo and phi_hi, and to
bisection; the new trial is kept at least 10% of the interval's width away from both ends
(the safeguard). A trial where f or g is NaN or inf counts as too long a step. The accepted
step is always the last point evaluated, so a fun that keeps state from its last call
(a model's gradients) describes the accepted point.

Stopping, after each iteration: converged when max_i |g_i| <= gtol, or when the relative
reduction (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol; otherwise after max_iter
iterations, or when the line search finds no strong Wolfe step in max_ls evaluations. A failed
line search from a quasi-Newton direction first clears the memory and retries along -g
(a restart); only a failed steepest-descent search ends the run, at the last accepted point.

Precision floor. The sufficient-decrease test compares computed values of f, which carry
rounding error of about eps_mach |f|. Near a minimizer x* with smallest curvature lambda_min,
f(x) - f(x*) ~ lambda_min ||x - x*||^2 / 2, so no line search on f resolves x more closely than
about sqrt(2 eps_mach |f| / lambda_min): ~2e-8 in float64 for |f| ~ 1 and lambda_min ~ 1, and
~3e-4 in float32. A gtol below what that allows ends the run with a failed line search there
(or a step that no longer lowers f, which ftol counts as converged).

Memory: 2 (m + 1) n float64 numbers for the pairs, plus a few vectors of n.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..core.checks import all_finite, check_nonnegative_float, check_positive_int, check_probability
from ..models.aae import AAE
from ..models.base import Model, NonFiniteError
from ..models.vae import VAE
from ..teaching.gradcheck import FrozenRandomness
from .fit import check_callbacks, progress_bar
from .history import Callback, History

__all__ = ["lbfgs", "minimize", "LBFGSResult", "CurvatureMemory", "MinimizeHistory", "METHODS"]

#: the methods minimize() knows
METHODS = ("lbfgs",)

#: result.status values: why a run ended
CONVERGED, MAX_ITER, LINE_SEARCH_FAILED, CALLBACK = ("converged", "max_iter",
                                                    "line_search_failed", "callback")

_SAFEGUARD = 0.1          # a zoom trial stays this fraction of the interval away from its ends
_EXTRAPOLATE = (1.0, 10.0)  # bracketing: alpha_{i+1} - alpha_i in [1, 10] x (alpha_i - alpha_{i-1})


# ---- the curvature memory and the two-loop recursion ------------------------------------

class CurvatureMemory:
    """The m most recent curvature pairs (s_i, y_i) of L-BFGS and the two-loop recursion over
    them (module doc). S and Y are (m + 1, n) float64 arrays used as a ring buffer: the row
    after the newest pair is always free, so a new pair is written there before its curvature
    is checked and a skipped pair leaves the memory as it was."""

    def __init__(self, n, m, eps=1e-10):
        self.n = check_positive_int(n, "n")
        self.m = check_positive_int(m, "m")
        self.eps = check_nonnegative_float(eps, "eps")
        self.S = np.empty((self.m + 1, self.n))
        self.Y = np.empty((self.m + 1, self.n))
        self.rho = np.empty(self.m + 1)     # 1 / s^T y
        self.yy = np.empty(self.m + 1)      # y^T y
        self.count = 0                  # pairs held, <= m
        self.newest = -1                # row of the newest pair
        self._tmp = None                # scratch (n,) for apply's updates

    def __len__(self):
        return self.count

    def clear(self):
        """Forget every pair (H_k becomes the identity)."""
        self.count, self.newest = 0, -1

    def push(self, s, y):
        """Keep the pair (s, y), dropping the oldest when m are held, if its curvature is
        positive: s^T y > eps ||s|| ||y||. Returns True if kept, False if skipped."""
        row = (self.newest + 1) % (self.m + 1)
        self.S[row] = s
        self.Y[row] = y
        return self._commit(row)

    def push_step(self, x_new, x, g_new, g):
        """push(x_new - x, g_new - g), the differences written straight into the ring buffer."""
        row = (self.newest + 1) % (self.m + 1)
        np.subtract(x_new, x, out=self.S[row])
        np.subtract(g_new, g, out=self.Y[row])
        return self._commit(row)

    def _commit(self, row):
        s, y = self.S[row], self.Y[row]
        sy, ss, yy = float(s @ y), float(s @ s), float(y @ y)
        if not sy > self.eps * math.sqrt(ss) * math.sqrt(yy):
            return False                # the row stays free; the pairs held are untouched
        self.rho[row], self.yy[row] = 1.0 / sy, yy
        self.newest = row
        self.count = min(self.count + 1, self.m)
        return True

    def rows(self):
        """Row indices of the pairs held, newest first."""
        return [(self.newest - i) % (self.m + 1) for i in range(self.count)]

    def gamma(self):
        """gamma = s^T y / y^T y of the newest pair (1.0 with no pairs): H^0 = gamma I."""
        if self.count == 0:
            return 1.0
        return 1.0 / (self.rho[self.newest] * self.yy[self.newest])

    def apply(self, q):
        """r = H q by the two-loop recursion (Algorithm 7.4), H from the pairs held and
        H^0 = gamma I. q: (n,) -> r: (n,) a new float64 array (q is not modified).
        Cost: 4 m passes over n numbers (a dot product and an update per pair and loop)."""
        r = np.array(q, dtype=np.float64)
        if self._tmp is None:
            self._tmp = np.empty(self.n)
        tmp = self._tmp
        rows = self.rows()
        a = np.empty(len(rows))
        for j, i in enumerate(rows):                 # newest to oldest
            a[j] = self.rho[i] * float(self.S[i] @ r)
            r -= np.multiply(self.Y[i], a[j], out=tmp)
        r *= self.gamma()
        for j in range(len(rows) - 1, -1, -1):        # oldest to newest
            i = rows[j]
            b = self.rho[i] * float(self.Y[i] @ r)
            r += np.multiply(self.S[i], a[j] - b, out=tmp)
        return r


# ---- the strong Wolfe line search --------------------------------------------------------

class _Trial:
    """One evaluated step: alpha, phi(alpha), phi'(alpha), and the point and gradient there.
    phi = inf and dphi = nan when f or g is not finite."""
    __slots__ = ("alpha", "f", "dphi", "x", "g")

    def __init__(self, alpha, f, dphi, x=None, g=None):
        self.alpha, self.f, self.dphi, self.x, self.g = alpha, f, dphi, x, g

    @property
    def finite(self):
        return math.isfinite(self.f) and math.isfinite(self.dphi)


def _cubic_min(a, b):
    """The minimizer of the cubic interpolating phi and phi' at trials a and b (Nocedal & Wright
    eq. 3.59), or None when it has none (or the numbers are not finite)."""
    if not (a.finite and b.finite) or a.alpha == b.alpha:
        return None
    d1 = a.dphi + b.dphi - 3.0 * (a.f - b.f) / (a.alpha - b.alpha)
    disc = d1 * d1 - a.dphi * b.dphi
    if not (disc >= 0.0 and math.isfinite(disc)):
        return None
    d2 = math.copysign(math.sqrt(disc), b.alpha - a.alpha)
    denom = b.dphi - a.dphi + 2.0 * d2
    if denom == 0.0:
        return None
    t = b.alpha - (b.alpha - a.alpha) * (b.dphi + d2 - d1) / denom
    return t if math.isfinite(t) else None


def _quadratic_min(lo, hi):
    """The minimizer of the quadratic through phi_lo, phi'_lo and phi_hi, or None if that
    quadratic is not convex (or the numbers are not finite)."""
    if not (lo.finite and math.isfinite(hi.f)):
        return None
    h = hi.alpha - lo.alpha
    curv = (hi.f - lo.f - lo.dphi * h) / (h * h)
    if not (curv > 0.0 and math.isfinite(curv)):
        return None
    t = lo.alpha - lo.dphi / (2.0 * curv)
    return t if math.isfinite(t) else None


class _LineSearch:
    """Find alpha satisfying the strong Wolfe conditions along d from x (Algorithms 3.5 and 3.6).
    run() returns the accepted _Trial, or None with self.message saying why not."""

    def __init__(self, fun, x, f0, d, dphi0, c1, c2, max_ls, check):
        self.fun, self.x, self.f0, self.d, self.dphi0 = fun, x, f0, d, dphi0
        self.c1, self.c2, self.max_ls, self.check = c1, c2, max_ls, check
        self.evaluations = 0
        self.message = ""

    def _evaluate(self, alpha):
        x = self.x + alpha * self.d
        f, g = self.check(self.fun(x))
        self.evaluations += 1
        if not math.isfinite(f) or not all_finite(g):
            return _Trial(alpha, math.inf, math.nan, x, g)
        return _Trial(alpha, f, float(g @ self.d), x, g)

    def _armijo_fails(self, t):
        return not t.f <= self.f0 + self.c1 * t.alpha * self.dphi0   # also true for NaN / inf

    def _curvature_holds(self, t):
        return abs(t.dphi) <= -self.c2 * self.dphi0

    def run(self, alpha):
        """Bracketing (Algorithm 3.5) from the first trial step alpha, then zoom."""
        prev = _Trial(0.0, self.f0, self.dphi0)
        while self.evaluations < self.max_ls:
            t = self._evaluate(alpha)
            if self._armijo_fails(t) or (prev.alpha > 0 and t.f >= prev.f):
                return self._zoom(prev, t)
            if self._curvature_holds(t):
                return t
            if t.dphi >= 0:
                return self._zoom(t, prev)
            span = t.alpha - prev.alpha
            lo, hi = t.alpha + _EXTRAPOLATE[0] * span, t.alpha + _EXTRAPOLATE[1] * span
            nxt = _cubic_min(prev, t)
            alpha = hi if nxt is None else min(max(nxt, lo), hi)
            prev = t
        self.message = (f"no step along the search direction satisfied the strong Wolfe "
                        f"conditions within max_ls={self.max_ls} evaluations while extrapolating "
                        f"(last step {alpha:.3g}): f may be unbounded below")
        return None

    def _zoom(self, lo, hi):
        """Algorithm 3.6: lo satisfies sufficient decrease, has the lowest phi of such trials,
        and phi'(lo) (hi - lo) < 0, so [lo, hi] contains a strong Wolfe step."""
        while self.evaluations < self.max_ls:
            left, right = min(lo.alpha, hi.alpha), max(lo.alpha, hi.alpha)
            width = right - left
            if width <= 4 * np.finfo(float).eps * max(right, 1e-300):
                self.message = (f"the interval of steps holding a strong Wolfe point shrank to "
                                f"rounding level near {lo.alpha:.3g}: f is at its precision floor "
                                f"(module doc), or g is not the gradient of f")
                return None
            alpha = _cubic_min(lo, hi)
            if alpha is None:
                alpha = _quadratic_min(lo, hi)
            if alpha is None:
                alpha = 0.5 * (left + right)
            alpha = min(max(alpha, left + _SAFEGUARD * width), right - _SAFEGUARD * width)
            t = self._evaluate(alpha)
            if self._armijo_fails(t) or t.f >= lo.f:
                hi = t
            else:
                if self._curvature_holds(t):
                    return t
                if t.dphi * (hi.alpha - lo.alpha) >= 0:
                    hi = lo
                lo = t
        self.message = (f"no step satisfied the strong Wolfe conditions within max_ls="
                        f"{self.max_ls} evaluations (zooming in [{min(lo.alpha, hi.alpha):.3g}, "
                        f"{max(lo.alpha, hi.alpha):.3g}]): f is at its precision floor (module "
                        f"doc; sooner in float32), or g is not the gradient of f")
        return None


# ---- lbfgs ---------------------------------------------------------------------------------

class LBFGSResult:
    """What lbfgs() returns.

    x, f, g        the last accepted point, f(x) and grad f(x) (float64)
    iterations     accepted steps taken
    evaluations    calls of fun, including the one at x0
    status         "converged", "max_iter", "line_search_failed" or "callback"
    stop_reason    a sentence saying why the run ended, with the numbers
    converged      status == "converged"
    skipped_pairs  curvature pairs skipped (s^T y <= eps ||s|| ||y||)
    restarts       memory resets after a failed line search along a quasi-Newton direction
    """

    def __init__(self, x, f, g, iterations, evaluations, status, stop_reason, skipped_pairs,
                 restarts):
        self.x, self.f, self.g = x, f, g
        self.iterations, self.evaluations = iterations, evaluations
        self.status, self.stop_reason = status, stop_reason
        self.skipped_pairs, self.restarts = skipped_pairs, restarts

    @property
    def converged(self):
        """True if the run met gtol or ftol."""
        return self.status == CONVERGED

    @property
    def grad_norm(self):
        """max_i |g_i| at the result."""
        return _max_abs(self.g)

    def __repr__(self):
        return (f"LBFGSResult(f={self.f:.6g}, grad_norm={self.grad_norm:.3g}, "
                f"iterations={self.iterations}, evaluations={self.evaluations}, "
                f"status={self.status!r})")


def _max_abs(v):
    """max_i |v_i| in two read-only passes (no temporary |v|)."""
    return max(float(v.max()), -float(v.min()))


def _check_options(max_iter, m, c1, c2, gtol, ftol, max_ls, eps):
    """The L-BFGS options, checked: positive ints max_iter, m, max_ls; 0 < c1 < c2 < 1;
    finite gtol, ftol, eps >= 0. Returns them converted (a clear error names any bad one)."""
    max_iter = check_positive_int(max_iter, "max_iter")
    m = check_positive_int(m, "m")
    max_ls = check_positive_int(max_ls, "max_ls")
    c1 = check_probability(c1, "c1", open_low=True)
    c2 = check_probability(c2, "c2", open_low=True)
    if not c1 < c2:
        raise ValueError(f"c1 < c2 is required (sufficient decrease weaker than the curvature "
                         f"condition: 0 < c1 < c2 < 1), got c1={c1}, c2={c2}")
    gtol = check_nonnegative_float(gtol, "gtol")
    ftol = check_nonnegative_float(ftol, "ftol")
    eps = check_nonnegative_float(eps, "eps")
    return max_iter, m, c1, c2, gtol, ftol, max_ls, eps


def _check_x0(x0):
    if isinstance(x0, (str, bytes)) or x0 is None:
        raise TypeError(f"x0 must be a 1-D array of real numbers, got {type(x0).__name__}")
    try:
        x = np.asarray(x0)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"x0 must be a 1-D array of real numbers: {exc}") from None
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x0 must hold real numbers, got dtype {x.dtype}")
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array (a flat vector), got shape {x.shape}")
    x = np.array(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"x0 contains NaN or inf (first at index {int(np.argmin(np.isfinite(x)))})")
    return x


def _output_checker(n):
    """A function that checks fun's return value (f, g) and returns (float f, float64 g copy)."""

    def check(out):
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError(f"fun(x) must return a tuple (f, g), got {type(out).__name__}")
        f, g = out
        if isinstance(f, np.ndarray) and f.size == 1 and f.ndim <= 1:
            f = f.reshape(())[()]
        if isinstance(f, bool) or not isinstance(f, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"fun(x) must return a real number f first, got {type(f).__name__}")
        g = np.asarray(g)
        if g.shape != (n,) or g.dtype.kind not in "biuf":
            raise ValueError(f"fun(x) must return the gradient g as a real array of shape ({n},) "
                             f"like x, got {g.dtype} {g.shape}")
        return float(f), np.array(g, dtype=np.float64)

    return check


def lbfgs(fun, x0, *, max_iter=400, m=10, c1=1e-4, c2=0.9, gtol=1e-5, ftol=1e-10, max_ls=20,
          eps=1e-10, callback=None):
    """Minimize f from x0 by L-BFGS with a strong Wolfe line search (module doc for the method).

    fun       fun(x) -> (f, g): the value (a real number) and gradient (shape (n,)) at x, (n,)
              float64. fun must not keep or modify x.
    x0        (n,) starting point (copied to float64)
    max_iter  most iterations (accepted steps)
    m         curvature pairs kept (memory 2 (m + 1) n float64)
    c1, c2    strong Wolfe constants, 0 < c1 < c2 < 1
    gtol      converged when max_i |g_i| <= gtol
    ftol      converged when (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol (0 turns it off,
              except for a step that does not lower f at all)
    max_ls    most evaluations of fun in one line search
    eps       a pair is kept only if s^T y > eps ||s|| ||y||
    callback  callback(info) after every iteration, info a dict: iteration (1, 2, ...), x, f, g,
              grad_norm (max |g_i|), step_length (alpha), direction (d), evaluations (so far, all
              calls of fun), line_search_evaluations. x, g and d are the optimizer's arrays:
              read, do not modify. Return True to stop (status "callback").

    Returns an LBFGSResult. A non-finite f or g at x0 raises NonFiniteError; later, a point
    where they are not finite is treated as a step too long and never accepted.
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable as fun(x) -> (f, g), got {type(fun).__name__}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(info) or None, "
                        f"got {type(callback).__name__}")
    max_iter, m, c1, c2, gtol, ftol, max_ls, eps = _check_options(max_iter, m, c1, c2, gtol, ftol,
                                                                 max_ls, eps)
    x = _check_x0(x0)
    n = x.size
    check = _output_checker(n)

    f, g = check(fun(x))
    evaluations = 1
    if not math.isfinite(f):
        raise NonFiniteError(f"f at the starting point x0 is {f}")
    if not all_finite(g):
        raise NonFiniteError("the gradient at the starting point x0 contains NaN or inf")

    memory = CurvatureMemory(n, m, eps)
    iterations = skipped = restarts = 0
    gnorm = _max_abs(g)
    if gnorm <= gtol:
        return LBFGSResult(x, f, g, 0, evaluations, CONVERGED,
                           f"converged: max|g| = {gnorm:.3g} <= gtol = {gtol:g} at x0", 0, 0)
    status = reason = None
    while status is None:
        d, dphi0, restarted = _search_direction(memory, g)
        restarts += restarted
        alpha = 1.0 if len(memory) else min(1.0, 1.0 / math.sqrt(-dphi0))
        search = _LineSearch(fun, x, f, d, dphi0, c1, c2, max_ls, check)
        t = search.run(alpha)
        evaluations += search.evaluations
        if t is None:
            if len(memory):
                memory.clear()
                restarts += 1
                continue
            status, reason = LINE_SEARCH_FAILED, f"line search failed: {search.message}"
            break
        if not memory.push_step(t.x, x, t.g, g):
            skipped += 1
        f_prev, x, f, g = f, t.x, t.f, t.g
        iterations += 1
        gnorm = _max_abs(g)
        stop = bool(callback({"iteration": iterations, "x": x, "f": f, "g": g,
                              "grad_norm": gnorm, "step_length": t.alpha, "direction": d,
                              "evaluations": evaluations,
                              "line_search_evaluations": search.evaluations})) \
            if callback is not None else False
        status, reason = _stopping(f_prev, f, gnorm, gtol, ftol, stop, iterations, max_iter)
    return LBFGSResult(x, f, g, iterations, evaluations, status, reason, skipped, restarts)


def _search_direction(memory, g):
    """(d, g^T d, restarted): d = -H g from the curvature memory, or steepest descent -g when
    the memory is empty or its d is not a descent direction (then the memory is cleared)."""
    restarted = 0
    if len(memory):
        d = memory.apply(g)
        d *= -1.0
        dphi0 = float(g @ d)
        if dphi0 < 0:
            return d, dphi0, 0
        memory.clear()                 # not a descent direction (rounding): start afresh
        restarted = 1
    return -g, -float(g @ g), restarted


def _stopping(f_prev, f, gnorm, gtol, ftol, stop, iterations, max_iter):
    """(status, reason) after an accepted iteration, or (None, None) to go on."""
    reduction = (f_prev - f) / max(abs(f_prev), abs(f), 1.0)
    if gnorm <= gtol:
        return CONVERGED, f"converged: max|g| = {gnorm:.3g} <= gtol = {gtol:g}"
    if reduction <= ftol:
        return CONVERGED, f"converged: relative reduction of f {reduction:.3g} <= ftol = {ftol:g}"
    if stop:
        return CALLBACK, "stopped by the callback"
    if iterations >= max_iter:
        return MAX_ITER, (f"max_iter = {max_iter} iterations done "
                          f"(max|g| = {gnorm:.3g}, gtol = {gtol:g})")
    return None, None


# ---- minimize: a numpyae Model's full-batch loss ------------------------------------------

class MinimizeHistory(History):
    """The History of a minimize() run: one record per iteration (history.epochs counts them)
    with every loss term of the model at the accepted point ("loss", ...), "grad_norm"
    (max |dL/dtheta_i|), "step_length" (alpha), "evaluations" (calls of loss_and_grad so far, including
    the one at the start) and, with validation data, the "val_" terms. Besides the records:

    method         "lbfgs"
    status         "converged", "max_iter", "line_search_failed" or "callback"
    stop_reason    a sentence with the numbers
    converged      status == "converged"
    initial        the loss terms at the starting parameters, with their "grad_norm"
    frozen_noise   True if the model draws random numbers in training mode (corruption, the
                   VAE's eps): minimize then replays one fixed draw at every evaluation
    skipped_pairs, restarts   as on LBFGSResult
    """

    def __init__(self, method="lbfgs"):
        super().__init__()
        self.method = method
        self.status = self.stop_reason = None
        self.initial = {}
        self.frozen_noise = False
        self.skipped_pairs = self.restarts = 0

    @property
    def iterations(self):
        """Iterations recorded (the same as epochs)."""
        return self.epochs

    @property
    def converged(self):
        """True if the run met gtol or ftol."""
        return self.status == CONVERGED

    def __repr__(self):
        last = self.last() if self.epochs else {}
        loss = f", loss={last['loss']:.6g}" if "loss" in last else ""
        return (f"MinimizeHistory(method={self.method!r}, iterations={self.epochs}{loss}, "
                f"status={self.status!r})")


def minimize(model, X, y=None, *, method="lbfgs", max_iter=400, m=10, c1=1e-4, c2=0.9,
             gtol=1e-5, ftol=1e-10, max_ls=20, validation_data=None, callbacks=(),
             progress=False):
    """Minimize the model's full-batch loss over its parameters; returns a MinimizeHistory.

    The objective is theta -> model.loss_and_grad(X, y)["loss"] on ALL of X in one pass, with
    the gradient from the model's backward (the parameters model.named_parameters_unique(), a
    tied weight once, flattened into one vector theta). The result is written into the
    parameters; on return p.grad holds the gradient there.

    method           "lbfgs" (lbfgs() above: two-loop recursion, strong Wolfe line search)
    max_iter, m, c1, c2, gtol, ftol, max_ls   as for lbfgs(); gtol bounds max_i |dL/dtheta_i|
    validation_data  (X_val,) or (X_val, y_val): its loss terms (inference mode, all of X_val
                     in one batch, like the objective) are recorded as "val_<term>" after every
                     iteration
    callbacks        Callback objects (numpyae.training.history), called per iteration as fit
                     calls them per epoch: on_epoch_end(iteration, logs, model, history), the
                     model holding the iteration's parameters; stop_training ends the run
    progress         a tqdm bar over the iterations

    Precision. The optimizer's vectors (theta, gradients, the curvature pairs) are float64;
    the loss and gradient are computed in the model's dtype, X converted to it once. UFLDL's
    exercise (minFunc) ran in float64. A float32 model is faster, but f and g then carry
    float32 rounding (relative ~1e-7): a tight gtol or ftol can be unreachable, and the run ends
    when the line search can no longer resolve a decrease (status "line_search_failed"). For
    tight convergence use model.astype(np.float64) or build the model with dtype=np.float64.

    Randomness. L-BFGS needs one deterministic function. Every Generator the model holds is
    restored to its state at the start before each evaluation, so a model that draws in
    training mode (a denoising corruption, the VAE's eps) is minimized for one fixed draw
    (history.frozen_noise says so). Refused: models whose train_step does more than one
    optimizer step on loss_and_grad's loss (the AAE's three phases, each with its own
    optimizer), and a VAE during its KL warm-up (the KL weight changes every step); a VAE's
    step counter is left as it was.

    An exception during the run (KeyboardInterrupt, an error in a callback) leaves the model
    at the last accepted iterate before it propagates.
    """
    max_iter, m, c1, c2, gtol, ftol, max_ls, X, y, X_val, y_val, callbacks = _check_arguments(
        model, X, y, method, max_iter, m, c1, c2, gtol, ftol, max_ls, validation_data,
        callbacks, progress)
    problem = _ModelProblem(model, X, y)
    history = MinimizeHistory(method)
    for cb in callbacks:
        cb.on_train_begin(model, history)
    bar = progress_bar(max_iter, "L-BFGS", "it") if progress else None

    record = _IterationLog(problem, history, X_val, y_val, callbacks, bar)
    try:
        result = lbfgs(problem, problem.pack(), max_iter=max_iter, m=m, c1=c1, c2=c2,
                       gtol=gtol, ftol=ftol, max_ls=max_ls, callback=record)
    except NonFiniteError as exc:
        problem.restore(record.accepted)
        if problem.evaluations != 1:
            raise
        raise NonFiniteError(f"the model's loss at its current parameters is not finite "
                             f"({exc}); nothing was changed") from None
    except BaseException:          # an error in a callback, KeyboardInterrupt, ...
        problem.restore(record.accepted)
        raise
    finally:
        if bar is not None:
            bar.close()
    history.initial, history.frozen_noise = problem.first_terms, problem.stochastic
    problem.finish(result.x)
    history.status, history.stop_reason = result.status, result.stop_reason
    history.skipped_pairs, history.restarts = result.skipped_pairs, result.restarts
    for cb in callbacks:
        cb.on_train_end(model, history)
    return history


def _check_arguments(model, X, y, method, max_iter, m, c1, c2, gtol, ftol, max_ls,
                     validation_data, callbacks, progress):
    """minimize's arguments checked before any work: (max_iter, m, c1, c2, gtol, ftol, max_ls,
    X, y, X_val, y_val, callbacks), X and y in the model's dtype."""
    if not isinstance(model, Model):
        raise TypeError(f"model must be a numpyae Model, got {type(model).__name__}")
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {list(METHODS)}, "
                        f"got {type(method).__name__} {method!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    max_iter, m, c1, c2, gtol, ftol, max_ls, _ = _check_options(max_iter, m, c1, c2, gtol, ftol,
                                                               max_ls, 1e-10)
    _refuse_multi_objective(model)
    X = model.check_input(X, "X")
    y = model.check_labels(y, len(X), "y")
    X_val, y_val = _validation(model, validation_data)
    callbacks = check_callbacks(callbacks)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {type(progress).__name__}")
    for name, p in model.named_parameters_unique():
        if not all_finite(p.value):
            raise NonFiniteError(f"parameter {name} contains NaN or inf; nothing was changed")
    return max_iter, m, c1, c2, gtol, ftol, max_ls, X, y, X_val, y_val, callbacks


class _IterationLog:
    """lbfgs's per-iteration callback for minimize: records the loss terms (and validation
    terms) in the History, advances the bar, calls the callbacks; remembers the last accepted
    theta so that an interrupted run can be put back there."""

    def __init__(self, problem, history, X_val, y_val, callbacks, bar):
        self.problem, self.history, self.X_val, self.y_val = problem, history, X_val, y_val
        self.callbacks, self.bar = callbacks, bar
        self.accepted = None          # the last accepted theta (None: still the starting one)

    def __call__(self, info):
        problem, history, model = self.problem, self.history, self.problem.model
        self.accepted = info["x"]
        if info["iteration"] == 1:
            history.initial, history.frozen_noise = problem.first_terms, problem.stochastic
        logs = {**problem.terms_at(info["x"]), "grad_norm": info["grad_norm"],
                "step_length": info["step_length"], "evaluations": info["evaluations"]}
        if self.X_val is not None:
            logs.update({f"val_{k}": v for k, v in
                         model.evaluate(self.X_val, self.y_val, batch_size=len(self.X_val)).items()})
        history.append(logs)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix({"loss": f"{info['f']:.6g}", "grad": f"{info['grad_norm']:.2g}"})
        stop = False
        for cb in self.callbacks:
            cb.on_epoch_end(info["iteration"] - 1, logs, model, history)
            stop = stop or cb.stop_training
        return stop


class _ModelProblem:
    """The model's full-batch loss as fun(theta) -> (f, g) over its flattened unique
    parameters: writes theta into the parameters (in their dtype), restores the model's
    Generators, runs loss_and_grad and gathers the gradients into a float64 vector."""

    def __init__(self, model, X, y):
        self.model, self.X, self.y = model, X, y
        self.params = [p for _, p in model.named_parameters_unique()]
        sizes = [p.value.size for p in self.params]
        ends = np.cumsum(sizes)
        self.slices = [slice(int(e - s), int(e)) for s, e in zip(sizes, ends)]
        self.n = int(ends[-1])
        self.frozen = FrozenRandomness(model)
        self.start = self.pack()
        self.stochastic = False
        self.evaluations = 0
        self.last_x = None
        self.last_terms = None
        self.first_terms = {}

    def pack(self):
        """theta: every parameter's values, flattened and concatenated, as float64 (n,)."""
        theta = np.empty(self.n)
        for p, sl in zip(self.params, self.slices):
            theta[sl] = p.value.reshape(-1)
        return theta

    def unpack(self, theta):
        """Write theta into the parameters, in place and in their dtype."""
        for p, sl in zip(self.params, self.slices):
            p.value[...] = theta[sl].reshape(p.value.shape)

    def __call__(self, theta):
        self.evaluations += 1
        self.unpack(theta)
        self.frozen.restore()
        terms = self.model.loss_and_grad(self.X, self.y)
        first = self.last_x is None
        if first:                      # did the model draw random numbers?
            self.stochastic = not all(_same_state(g.bit_generator.state, s) for g, s in
                                      zip(self.frozen.generators, self.frozen.states))
        g = np.empty(self.n)
        for p, sl in zip(self.params, self.slices):
            g[sl] = p.grad.reshape(-1)
        self.last_x, self.last_terms = theta, {k: float(v) for k, v in terms.items()}
        if first:
            self.first_terms = {**self.last_terms, "grad_norm": float(np.max(np.abs(g)))}
        return self.last_terms["loss"], g

    def terms_at(self, theta):
        """The loss terms at theta: the last evaluation's (the accepted point is the last one
        lbfgs evaluates), re-evaluated only if theta is another point."""
        if theta is not self.last_x:
            self(theta)
        return self.last_terms

    def restore(self, theta):
        """After an exception: put back theta, the last accepted point (None: the start)."""
        self.unpack(self.start if theta is None else theta)

    def finish(self, theta):
        """Leave the parameters at theta with p.grad their gradient."""
        if theta is not self.last_x:
            self(theta)


def _same_state(a, b):
    """Whether two bit_generator.state dicts are equal (arrays compared by value)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def _refuse_multi_objective(model):
    """TypeError for models whose training is more than minimizing loss_and_grad's loss."""
    if isinstance(model, AAE):
        raise TypeError("minimize(method='lbfgs') minimizes one loss, but an AAE trains three "
                        "(discriminator, generator, reconstruction), each with its own optimizer "
                        "in its train_step; train it with fit(model, X, model.make_optimizers())")
    if isinstance(model, VAE) and type(model).train_step is VAE.train_step:
        if model.kl_warmup and model.step + 1 < model.kl_warmup:
            raise ValueError(f"minimize needs one fixed loss, but this {type(model).__name__} is "
                             f"in its KL warm-up (step {model.step} of kl_warmup="
                             f"{model.kl_warmup}: the KL weight changes every step); build it "
                             f"with kl_warmup=0 or finish the warm-up with fit first")
        return
    if type(model).train_step is not Model.train_step:
        raise TypeError(f"minimize minimizes the one loss of loss_and_grad, but "
                        f"{type(model).__name__} overrides train_step (its training does more "
                        f"than one optimizer step on that loss); train it with fit")


def _validation(model, validation_data):
    """(X_val, y_val) checked and in the model's dtype, or (None, None)."""
    if validation_data is None:
        return None, None
    if not isinstance(validation_data, (tuple, list)) or not 1 <= len(validation_data) <= 2:
        raise TypeError(f"validation_data must be a tuple (X_val,) or (X_val, y_val), "
                        f"got {type(validation_data).__name__}")
    X_val = model.check_input(validation_data[0], "validation_data[0]")
    y_val = model.check_labels(validation_data[1] if len(validation_data) == 2 else None,
                               len(X_val), "validation_data[1]")
    return X_val, y_val


