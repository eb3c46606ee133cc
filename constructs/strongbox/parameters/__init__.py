"""Runtime code of the SecureString provider Lambda (shipped as its code asset)."""
