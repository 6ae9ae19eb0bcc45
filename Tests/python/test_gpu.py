"""GPU attribution of a Python worker, against the NVML test double (Tests/Fixtures/FakeNVML):
probed sees the process's device memory by pid, and warns on its operations timed without
`sync` but not on those timed with it."""

import subprocess
import time

from conftest import ROOT, last_json, popen_python

DEVICE = "device 0 NVIDIA_H100_80GB_HBM3 GPU-11111111-2222-3333-4444-555555555555 85899345920 2147483648 83751862272 37 12 45 123456\n"


def test_pythonWorkerOnAGPU_unsynchronisedTimingsAreFlagged_syncedOnesAreNot(daemon_factory, tmp_dir):
    library = tmp_dir / "libfake-nvml.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", str(ROOT / "Tests" / "Fixtures" / "FakeNVML" / "fake_nvml.c"),
                    "-o", str(library)], check=True, timeout=120)
    script = tmp_dir / "nvml-script.txt"
    script.write_text(DEVICE)
    daemon = daemon_factory("--nvml-library", str(library), "--sample-interval", "100ms",
                            environment={"FAKE_NVML_SCRIPT": str(script)})
    p = popen_python("""
        import json, os, sys
        from probe_client import Probe

        probe = Probe("gpu-py", sys.argv[1])
        syncs = []

        @probe.measure("launch")                              # times only the kernel launch
        def launch(x):
            return x

        @probe.measure("infer", sync=lambda: syncs.append(1))  # a device synchronise before and after
        def infer(x):
            return x

        for i in range(20):
            launch(i)
            infer(i)
        assert probe.flush(30) and len(syncs) == 40
        print(json.dumps({"pid": os.getpid()}), flush=True)
        sys.stdin.readline()
    """, daemon.socket)
    pid = last_json(p.stdout.readline())["pid"]
    try:
        script.write_text(DEVICE + f"process 0 {pid} 805306368\n")  # 768 MiB of device memory
        deadline = time.monotonic() + 30
        while True:
            rows = {r["operation"]: r for r in daemon.json("stats")["operations"] if r["pid"] == pid}
            if rows["launch"]["warnings"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        launch, infer = rows["launch"], rows["infer"]
        assert launch["device_synchronized"] is False and len(launch["warnings"]) == 1, launch
        assert f"process {pid} holds 768.0 MiB of GPU memory" in launch["warnings"][0]
        assert (infer["device_synchronized"], infer["synchronized_calls"], infer["warnings"]) == (True, 20, [])
        [device] = daemon.json("gpu")["devices"]
        mine = [q for q in device["processes"] if q["pid"] == pid]
        assert mine and mine[0]["service"] == "gpu-py" and mine[0]["memory_used_bytes"] == 768 << 20
    finally:
        p.communicate(input="\n", timeout=30)
