"""What the kit is compared with: the peers' accuracy and size on 300-W common, as measured by the
speed issue's filer (they are not re-measured here: MediaPipe predicts 468 points, mapped to the 68
iBUG points for that figure; dlib's shape predictor is not installed). Their latency is measured in
every benchmark run where the model is present (MediaPipe) or quoted as a ratio to MediaPipe
(dlib, from the same filer's same-machine run)."""
from __future__ import annotations

PEERS = {
    "mediapipe_face_landmark": {"label": "MediaPipe face mesh (468 -> 68 points)", "nme_common": 5.13,
                                "bytes": 1_242_398},
    "dlib_ert_68": {"label": "dlib ERT shape predictor 68", "nme_common": 2.90, "bytes": 99_693_937,
                    "latency_vs_mediapipe": 0.9},
}
