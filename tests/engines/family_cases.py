"""Small settings per family so the contract tests (which run every registered family) stay fast.

A new family adds one line here if its defaults are too big for a 16 px, few-step smoke test.
"""

SMALL_CONFIG: dict[str, dict] = {
    "dcgan": {"latent_dim": 8, "g_width": 8, "d_width": 8},
    "ddpm": {"base_channels": 8, "channel_mults": "1,2", "timesteps": 100, "sample_steps": 4},
}
