#!/usr/bin/env python3
"""The admission decision alone: CPU per AdmissionReview, next to the do-nothing webhook's path.

    python bench/bench_decision.py                  # 3000 calls per review, best of 3 rounds
    python bench/bench_decision.py --n 5000 --repeat 5
    python bench/bench_decision.py --phases         # also: where one decision's time goes
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
        --toggle-collect=functools_reduce python bench/bench_decision.py --region Pod --n 20
                                                    # instructions of 20 decisions (--policy null-rules...)

Per review (a compliant Deployment, allowed; a privileged Deployment UPDATE, denied with warnings; a
privileged Pod, denied; a ConfigMap, allowed), the CPU time (``process_time``) of
:func:`kubefort.admission.review.review_detailed` on the parsed body, best of ``--repeat`` rounds of
``--n`` calls, and of the whole per-request work the server does besides HTTP and TLS (``json.loads``
of the body, the decision, the response and the audit log line encoded). The do-nothing row is the same
server path with every rule skipped (as ``bench_admission.py``'s do-nothing webhook): it parses the
review and answers allowed. CPU time and same-run ratios, because the machine's cores are shared.

Issue 15's webhook target (saturation at least half the do-nothing webhook's) leaves the decision about
as much CPU per request as the do-nothing server spends on HTTP and TLS (~0.13 ms on the 2-core machine
of docs/performance.md).

``--phases`` times, with wall timers over the same calls, each piece of one decision separately: the
request's fields, the object view, the inventory and suppressor, the engine run (rule functions alone
and the engine's own work around them), and the response: docs/performance.md cites it.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "src"))
FIX = os.path.join(ROOT, "tests", "fixtures", "admission")

from kubefort.admission.config import AdmissionPolicy  # noqa: E402
from kubefort.admission.review import review_detailed  # noqa: E402
from kubefort.rules import default_registry  # noqa: E402

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # as the server encodes


def _fixture(name: str) -> dict[str, Any]:
    with open(os.path.join(FIX, name), encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def reviews() -> dict[str, bytes]:
    """The request bodies, as the API server would send them."""
    compliant = _fixture("create-deployment-hardened.json")
    denied = _fixture("update-deployment-privileged.json")
    pod = _fixture("create-pod-privileged.json")
    cm = copy.deepcopy(compliant)
    req = cm["request"]
    req["kind"] = {"group": "", "version": "v1", "kind": "ConfigMap"}
    req["resource"] = {"group": "", "version": "v1", "resource": "configmaps"}
    req["requestKind"], req["requestResource"] = req["kind"], req["resource"]
    req["name"] = "checkout-config"
    req["object"] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "checkout-config", "namespace": "shop", "labels": {"app.kubernetes.io/name": "checkout"}},
        "data": {"LOG_LEVEL": "info", "DB_HOST": "postgres.shop.svc", "config.yaml": "listen: :8080\nworkers: 4\n"},
    }
    return {
        "Deployment, compliant (allowed)": json.dumps(compliant).encode(),
        "Deployment UPDATE, privileged (denied + warnings)": json.dumps(denied).encode(),
        "Pod, privileged (denied)": json.dumps(pod).encode(),
        "ConfigMap (allowed)": json.dumps(cm).encode(),
    }


def policies() -> tuple[AdmissionPolicy, AdmissionPolicy]:
    """kubefort's default policy, and the same with every rule skipped (the do-nothing webhook)."""
    full = AdmissionPolicy.build()
    areas = sorted({"KF-" + r.meta.id.split("-")[1] + "-*" for r in default_registry()})
    nothing = AdmissionPolicy.build(skip_rules=areas)
    assert not nothing.rules, "the do-nothing policy still has rules"
    return full, nothing


def _cpu_per_call(fn: Callable[[], Any], n: int, repeat: int) -> float:
    """Best of ``repeat`` rounds: CPU seconds per call of ``fn`` over ``n`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t0) / n)
    return best


def request_work(body: bytes, policy: AdmissionPolicy) -> None:
    """What the server does per request besides HTTP and TLS (server.create_app's validate)."""
    d = review_detailed(json.loads(body), policy)
    _DUMPS(d.response)
    _DUMPS(d.log_record(0.001))


def measure(n: int, repeat: int) -> list[tuple[str, float, float, float, float]]:
    full, nothing = policies()
    out = []
    bodies = reviews()
    for body in bodies.values():  # warm up: plans compiled, memos filled
        for _ in range(100):
            request_work(body, full)
            request_work(body, nothing)
    gc.collect()
    gc.freeze()  # as the server does at start-up (server.create_app's lifespan)
    for name, body in bodies.items():
        data = json.loads(body)
        dec = _cpu_per_call(lambda data=data: review_detailed(data, full), n, repeat)  # type: ignore[misc]
        dec0 = _cpu_per_call(lambda data=data: review_detailed(data, nothing), n, repeat)  # type: ignore[misc]
        req = _cpu_per_call(lambda body=body: request_work(body, full), n, repeat)  # type: ignore[misc]
        req0 = _cpu_per_call(lambda body=body: request_work(body, nothing), n, repeat)  # type: ignore[misc]
        out.append((name, dec, dec0, req, req0))
    return out


def phases(n: int) -> list[tuple[str, float]]:
    """Wall time per call of each piece of the denied Deployment's decision, timed separately."""
    from kubefort.admission.config import MODE
    from kubefort.admission.review import SOURCE, parse_request
    from kubefort.engine.rule import Scope
    from kubefort.engine.runner import Run, evaluate
    from kubefort.engine.suppression import Suppressor
    from kubefort.model.inventory import Inventory
    from kubefort.model.objects import K8sObject
    from kubefort.model.workloads import pod_spec

    full, _ = policies()
    data = json.loads(reviews()["Deployment UPDATE, privileged (denied + warnings)"])
    raw = data["request"]["object"]
    ns = data["request"]["namespace"]
    plan = full.plan
    assert plan is not None

    def obj() -> K8sObject:
        return K8sObject.from_raw(raw, SOURCE, default_namespace=ns, cluster_scoped=False)

    def run_engine() -> Any:
        return evaluate(
            plan,
            Inventory([obj()]),
            suppressor=Suppressor(full.cfg.exceptions),
            mode=MODE,
            min_severity=full.min_severity,
            fail_on=full.fail_on,
            keep_passes=False,
        )

    o = obj()
    inv = Inventory([o])
    rules = plan.for_kind(o.kind)
    run = Run(plan, inv, run_engine(), Suppressor(), full.min_severity, False)

    def rules_alone() -> None:
        """Every rule of the kind on a fresh object, as the engine calls it, nothing recorded."""
        x = obj()
        pod = pod_spec(x)
        for r in rules:
            m = r.meta
            groups = m.groups.get(x.kind)
            if (groups is not None and x.group not in groups) or (m.applies is not None and not m.applies(x)):
                continue
            ctx = run.context(m)
            try:
                if m.scope is Scope.OBJECT:
                    list(r.fn(x, ctx))
                elif pod is None:
                    continue
                elif m.scope is Scope.POD:
                    list(r.fn(pod, ctx))
                else:
                    for c in pod.containers(m.containers):
                        list(r.fn(c, ctx))
            except Exception:  # a rule that cannot judge: the engine records it, nothing to time here
                continue

    pieces: list[tuple[str, Callable[[], Any]]] = [
        ("json.loads of the body", lambda: json.loads(reviews_body)),
        ("parse_request (fields of the review)", lambda: parse_request(data)),
        ("K8sObject.from_raw", obj),
        ("Inventory([obj])", lambda: Inventory([o])),
        ("Suppressor(exceptions)", lambda: Suppressor(full.cfg.exceptions)),
        ("rule functions alone (fresh object)", rules_alone),
        ("engine.evaluate (object, inventory, suppressor, rules, records)", run_engine),
        ("review_detailed (whole decision)", lambda: review_detailed(data, full)),
        ("response + audit line encoded", lambda: (_DUMPS(dec.response), _DUMPS(dec.log_record(0.001)))),
    ]
    reviews_body = reviews()["Deployment UPDATE, privileged (denied + warnings)"]
    dec = review_detailed(data, full)
    out = []
    for name, fn in pieces:
        for _ in range(50):
            fn()
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t0) / n)
        out.append((name, best))
    return out


def region(prefix: str, which: str, n: int) -> int:
    """``n`` decisions of one review inside ``functools.reduce`` (a C function nothing else here calls), for
    callgrind to count instructions in that region alone; the server's gc.freeze first."""
    import functools

    from kubefort.engine.rule import Rule
    from kubefort.engine.runner import Plan

    full, nothing = policies()
    policy = nothing if which == "do-nothing" else full
    if which == "null-rules":

        def null(_: Any, __: Any) -> tuple[()]:
            return ()

        policy = AdmissionPolicy.build()
        policy.plan = Plan([Rule(r.meta, null) for r in policy.rules], policy.params, mode="admission", local_only=True)
    matches = [b for name, b in reviews().items() if name.startswith(prefix)]
    if not matches:
        print(f"no review named {prefix}...; choose from: {', '.join(reviews())}", file=sys.stderr)
        return 2
    data = json.loads(matches[0])
    for _ in range(50):
        review_detailed(data, policy)
    gc.collect()
    gc.freeze()
    functools.reduce(lambda _, __: review_detailed(data, policy), range(n), None)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="calls per round (default 3000)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best is kept (default 3)")
    ap.add_argument("--phases", action="store_true", help="also time the pieces of one decision")
    ap.add_argument(
        "--region",
        metavar="REVIEW",
        help="only run --n decisions of the review whose name starts with REVIEW inside functools.reduce, for "
        "valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce (instructions: a "
        "measure other processes on the machine do not move)",
    )
    ap.add_argument(
        "--policy",
        choices=("kubefort", "null-rules", "do-nothing"),
        default="kubefort",
        help="with --region: kubefort's policy, the same with every rule function doing nothing (the engine "
        "and the review alone), or every rule skipped",
    )
    args = ap.parse_args()
    if args.region:
        return region(args.region, args.policy, max(1, min(args.n, 100_000)))
    n, repeat = max(10, min(args.n, 100_000)), max(1, min(args.repeat, 20))
    rows = measure(n, repeat)
    print(f"### Admission decision, CPU per review (best of {repeat} x {n} calls, process_time)\n")
    print(
        "| review | decision ms | do-nothing ms | decision - do-nothing ms "
        "| request work ms | do-nothing request work ms | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, dec, dec0, req, req0 in rows:
        print(
            f"| {name} | {dec * 1e3:.3f} | {dec0 * 1e3:.3f} | {(dec - dec0) * 1e3:.3f} "
            f"| {req * 1e3:.3f} | {req0 * 1e3:.3f} | {req / req0:.1f} |"
        )
    print(
        "\nrequest work: json.loads of the body, the decision, the response and the audit line encoded "
        "(the server's work besides HTTP and TLS). do-nothing: the same with every rule skipped."
    )
    if args.phases:
        print(f"\n### Where one decision goes (denied Deployment UPDATE; wall, best of 3 x {n}, pieces timed apart)\n")
        print("| piece | us per call |")
        print("|---|---:|")
        for name, s in phases(n):
            print(f"| {name} | {s * 1e6:.1f} |")
    print(f"\nCommand: `python bench/bench_decision.py --n {n} --repeat {repeat}{' --phases' if args.phases else ''}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
