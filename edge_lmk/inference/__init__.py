"""Photos and video to landmarks: ``FaceLandmarker`` (detector -> crop rule -> landmark model), face
tracking with One Euro smoothing, the face detectors (BlazeFace over a tile pyramid, fHOG), test-time
flip and drawing. Everything here runs a trained model; nothing here trains or exports one."""
