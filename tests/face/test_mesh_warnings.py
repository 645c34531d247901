"""mediapipe's protobuf deprecation warning stays out of the user's terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_protobuf_deprecation_is_hidden_for_the_whole_process_not_per_call() -> None:
    """mediapipe 0.10.14 makes protobuf warn on every call that returns landmarks. The
    filter is installed once for the process: a ``warnings.catch_warnings`` block around
    each call is not thread-safe, and a short dub (rendering on one thread, its QA on
    another) printed the warning. Here mediapipe is called outside any such block, as a
    second thread's call could be."""
    code = textwrap.dedent("""
        import numpy as np
        from trustavatar.face import load_image, sample_portrait_path
        from trustavatar.face.mesh import FaceMesh
        image = np.ascontiguousarray(load_image(sample_portrait_path()))
        with FaceMesh(video=False) as mesh:
            assert mesh.detect(image) is not None
            assert mesh._mesh.process(image).multi_face_landmarks
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert "GetPrototype" not in r.stderr, r.stderr
