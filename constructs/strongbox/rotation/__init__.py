"""Runtime code of the RotationFunction Lambda (shipped as its code asset)."""
