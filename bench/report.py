#!/usr/bin/env python3
"""Turns one scripts/bench.sh run into the tables of docs/PERFORMANCE.md: medians over the
runs, ratios to the baselines measured in the same run, and the issue's targets.

    report.py RESULTS_DIR        (writes RESULTS_DIR/summary.json, prints Markdown)

Fails (exit 1) when a benchmark that should have run left no result.
"""

import glob
import json
import os
import statistics
import sys

# Every criterion benchmark of bench/benches/*.rs; a missing one means a bench did not run.
EXPECTED_BENCHES = [
    "capture/pattern_1280x720",
    "capture/copy_yuyv_1280x720",
    "handoff/same_thread",
    "handoff/to_waiting_thread_and_back",
    "yuyv_to_planes/640x480",
    "yuyv_to_planes/1280x720",
    "yuyv_to_planes/1920x1080",
    "yuyv_to_planes/640x480_general_resizer",
    "yuyv_to_planes/1280x720_general_resizer",
    "yuyv_to_planes/1920x1080_general_resizer",
    "mjpeg_to_planes/1280x720",
    "mjpeg_to_planes/1920x1080",
    "mjpeg_to_planes/1280x720_general_resizer",
    "resample_plane/area_960x540",
    "resample_plane/fast_image_resize_960x540",
    "resample_plane/area_720x405",
    "resample_plane/fast_image_resize_720x405",
    "encode/campub_640x360",
    "encode/floor_libjpeg_turbo_640x360",
    "passthrough/640x480",
    "passthrough/640x480_without_huffman_tables",
    "publish/native_640x360",
    "publish/pacing_alone",
    "pipeline/yuyv_640x480",
    "pipeline/yuyv_1280x720",
    "pipeline/yuyv_1920x1080",
    "pipeline/mjpeg_1280x720",
    "pipeline/mjpeg_1920x1080",
    "pipeline/mjpeg_640x480_passthrough",
    "pipeline/pacing_alone",
    *[f"v4l2_copy_1280x720/{f}" for f in ("YUYV", "UYVY", "NV12", "YU12")],
    *[f"v4l2_frame_1280x720/{f}" for f in ("YUYV", "UYVY", "NV12", "YU12")],
    *[f"orient_yuyv_1280x720/{o}" for o in ("none", "hflip", "vflip", "rotate_180", "rotate_90")],
    *[f"orient_planes_640x360/{o}" for o in ("copy", "hflip_in_place", "vflip_in_place", "rotate_180_in_place")],
    *[f"orient_mjpeg_640x480/{o}" for o in ("passthrough", "rotate_180_lossless", "rotate_180_decoded")],
    "view_decode/native_640x360",
    "view_upload/iyuv_640x360_software",
    "view_upload/iyuv_640x360_window",
    "view_loop/publish_receive_decode_640x360",
    "view_loop/publish_receive_decode_upload_640x360_window",
]


def criterion_medians(results):
    """{bench id: [median ms of each run]}"""
    medians = {}
    for run_dir in sorted(glob.glob(os.path.join(results, "run-*", "criterion"))):
        for path in glob.glob(os.path.join(run_dir, "**", "new", "estimates.json"), recursive=True):
            bench = os.path.relpath(os.path.dirname(os.path.dirname(path)), run_dir)
            with open(path) as f:
                ns = json.load(f)["median"]["point_estimate"]
            medians.setdefault(bench, []).append(ns / 1e6)
    return medians


def load_json(pattern):
    out = {}
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    results = sys.argv[1]
    with open(os.path.join(results, "machine.json")) as f:
        machine = json.load(f)
    bench_runs = criterion_medians(results)
    missing = [b for b in EXPECTED_BENCHES if b not in bench_runs]
    bench = {b: median(v) for b, v in bench_runs.items()}
    tutorial = {
        doc["size"]: doc for doc in load_json(os.path.join(results, "tutorial-*.json")).values()
    }
    e2e_runs = {}
    for name, doc in load_json(os.path.join(results, "e2e-*.json")).items():
        case = name.rsplit("-", 1)[0][len("e2e-"):]
        e2e_runs.setdefault(case, []).append(doc)

    def e2e(case, key, sub=None):
        docs = e2e_runs.get(case, [])
        values = [(d.get(key) or {}).get(sub) if sub else d.get(key) for d in docs]
        return median(values)

    b = bench.get
    floor = b("encode/floor_libjpeg_turbo_640x360")
    yuyv720 = b("pipeline/yuyv_1280x720")
    tut720 = (tutorial.get("1280x720") or {}).get("cpu_ms_per_frame")
    ratio = lambda a, c: None if a is None or c in (None, 0) else a / c
    def minus(a, c):
        return None if a is None or c is None else a - c

    # Paced benchmarks include their pause's CPU, measured alone beside them.
    publish_ms = minus(b("publish/native_640x360"), b("publish/pacing_alone"))
    passthrough_ms = minus(b("pipeline/mjpeg_640x480_passthrough"), b("pipeline/pacing_alone"))
    decode_ms = b("view_decode/native_640x360")
    loop_ms = b("view_loop/publish_receive_decode_640x360")
    headless_ms = minus(loop_ms, publish_ms)

    def verdict(ok):
        return "n/a" if ok is None else ("met" if ok else "**missed**")

    def check(value, limit, below=True):
        if value is None:
            return None
        return value <= limit if below else value >= limit

    targets = [
        ("YUYV 1280x720 -> 640x360 JPEG, campub CPU per frame", "<= 1.5x the floor",
         f"{fmt(yuyv720)} ms = {fmt(ratio(yuyv720, floor), 2)}x the floor ({fmt(floor)} ms)",
         check(ratio(yuyv720, floor), 1.5)),
        ("same, against the tutorial's pipeline", ">= 4x less CPU",
         f"tutorial {fmt(tut720)} ms = {fmt(ratio(tut720, yuyv720), 1)}x campub",
         check(ratio(tut720, yuyv720), 4, below=False)),
        ("MJPEG 1920x1080 -> 640x360", "<= 2.5 ms CPU per frame",
         f"{fmt(b('pipeline/mjpeg_1920x1080'))} ms", check(b("pipeline/mjpeg_1920x1080"), 2.5)),
        ("MJPEG passthrough", "<= 0.05 ms CPU per frame",
         f"{fmt(passthrough_ms, 4)} ms with publishing to a subscriber "
         f"({fmt(b('passthrough/640x480'), 5)} ms before publishing); whole campub at 30 fps: "
         f"{fmt(e2e('mjpeg-640x480', 'campub_cpu_ms_per_frame'))} ms",
         check(passthrough_ms, 0.05)),
        ("capture -> decoded in camview, loopback, 30 fps", "p50 <= 5 ms, p99 <= 15 ms",
         f"p50 {fmt(e2e('pattern-1280x720', 'latency_ms', 'p50'), 2)} ms, "
         f"p99 {fmt(e2e('pattern-1280x720', 'latency_ms', 'p99'), 2)} ms",
         None if e2e("pattern-1280x720", "latency_ms", "p50") is None else
         check(e2e("pattern-1280x720", "latency_ms", "p50"), 5)
         and check(e2e("pattern-1280x720", "latency_ms", "p99"), 15)),
        ("camview decode capacity, 640x360, headless", ">= 1000 fps",
         f"{fmt(None if headless_ms is None else 1000 / headless_ms, 0)} fps receive + decode "
         f"({fmt(None if decode_ms is None else 1000 / decode_ms, 0)} fps decode alone)",
         check(None if headless_ms is None else 1000 / headless_ms, 1000, below=False)),
        ("RSS: campub / camview (window under Xvfb)", "<= 10 MB / <= 60 MB",
         f"{fmt(kb_mb(e2e('pattern-1280x720', 'campub_hwm_kb')), 1)} MB / "
         f"{fmt(kb_mb(e2e('pattern-1280x720-window', 'camview_hwm_kb')), 1)} MB (peak, VmHWM)",
         None if e2e("pattern-1280x720", "campub_hwm_kb") is None else
         check(kb_mb(e2e("pattern-1280x720", "campub_hwm_kb")), 10)
         and check(kb_mb(e2e("pattern-1280x720-window", "camview_hwm_kb")), 60)),
        ("stripped campub for aarch64", "<= 4 MB",
         size_text(machine.get("campub_bytes_aarch64")),
         check(mb(machine.get("campub_bytes_aarch64")), 4)),
    ]

    lines = [
        f"Run {machine.get('date')}: {machine.get('cpu')}, {machine.get('cores')} cores, "
        f"load {machine.get('load_before')} before / {machine.get('load_after')} after; "
        f"profile {machine.get('profile')}, {len(next(iter(bench_runs.values()), []))} run(s) "
        "of the benches (medians).",
        "",
        "| what | target | measured (median) | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {w} | {t} | {m} | {verdict(ok)} |" for w, t, m, ok in targets]
    lines += ["", f"Net of pacing: publish {fmt(publish_ms, 4)} ms, passthrough pipeline "
              f"{fmt(passthrough_ms, 4)} ms, camview receive + decode {fmt(headless_ms, 4)} ms.", ""]
    lines += ["", "Stage benchmarks, CPU ms per frame (median of the runs' medians):", "",
              "| benchmark | ms | runs |", "|---|---|---|"]
    for name in EXPECTED_BENCHES + sorted(set(bench) - set(EXPECTED_BENCHES)):
        if name in bench:
            runs = ", ".join(fmt(v) for v in bench_runs[name])
            lines.append(f"| {name} | {fmt(bench[name], 4)} | {runs} |")
    lines += ["", "The tutorial's pipeline (Python + OpenCV), CPU ms per frame:", "",
              "| input | total | YUYV->BGR | resize | imencode | base64 | send |",
              "|---|---|---|---|---|---|---|"]
    for size, doc in sorted(tutorial.items()):
        s = doc["steps_ms"]
        lines.append(
            f"| YUYV {size} | {fmt(doc['cpu_ms_per_frame'])} | {fmt(s['yuyv_to_bgr'])} | "
            f"{fmt(s['resize'])} | {fmt(s['imencode'])} | {fmt(s['base64'])} | {fmt(s['send'])} |")
    if tutorial:
        any_doc = next(iter(tutorial.values()))
        lines.append("")
        lines.append(f"OpenCV {any_doc['opencv']} ({any_doc['opencv_threads']} threads), "
                     f"numpy {any_doc['numpy']}, pyzmq {any_doc['pyzmq']}.")
    lines += ["", "End to end on loopback (campub -> camview, 30 fps), medians:", "",
              "| source | camview | fps | campub CPU ms/frame | camview CPU ms/frame | "
              "latency p50 / p95 / p99 ms | campub RSS / peak MB | camview RSS / peak MB |",
              "|---|---|---|---|---|---|---|---|"]
    for case in sorted(e2e_runs):
        window = case.endswith("-window")
        lat = "-" if window else (
            f"{fmt(e2e(case, 'latency_ms', 'p50'), 2)} / {fmt(e2e(case, 'latency_ms', 'p95'), 2)}"
            f" / {fmt(e2e(case, 'latency_ms', 'p99'), 2)}")
        lines.append(
            f"| {case.removesuffix('-window')} | {'window' if window else 'headless'} | "
            f"{fmt(e2e(case, 'camview_fps'), 1)} | {fmt(e2e(case, 'campub_cpu_ms_per_frame'))} | "
            f"{fmt(e2e(case, 'camview_cpu_ms_per_frame'))} | {lat} | "
            f"{fmt(kb_mb(e2e(case, 'campub_rss_kb')), 1)} / {fmt(kb_mb(e2e(case, 'campub_hwm_kb')), 1)} | "
            f"{fmt(kb_mb(e2e(case, 'camview_rss_kb')), 1)} / {fmt(kb_mb(e2e(case, 'camview_hwm_kb')), 1)} |")
    lines += ["", f"Stripped campub: x86_64 {size_text(machine.get('campub_bytes_x86_64'))}, "
              f"aarch64 {size_text(machine.get('campub_bytes_aarch64'))}."]
    report = "\n".join(lines)
    print(report)
    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump({"machine": machine, "benches_ms": bench, "bench_runs_ms": bench_runs,
                   "tutorial": tutorial, "e2e": e2e_runs,
                   "targets": [dict(zip(("what", "target", "measured", "met"), t)) for t in targets]},
                  f, indent=1)
    if missing:
        print(f"\nreport: no result from these benchmarks: {', '.join(missing)}", file=sys.stderr)
        sys.exit(1)
    if not tutorial or not e2e_runs:
        print("\nreport: the tutorial baseline or the end-to-end runs left no result", file=sys.stderr)
        sys.exit(1)


def kb_mb(kb):
    return None if kb is None else kb / 1024


def mb(n):
    return None if n is None else n / (1024 * 1024)


def size_text(n):
    return "not built" if n is None else f"{n / (1024 * 1024):.2f} MiB ({n} bytes)"


if __name__ == "__main__":
    main()
