"""Small settings per family so the contract tests (which run every registered family) stay fast.

A new family adds one line here if its defaults are too big for a 16 px, few-step smoke test.
"""

SMALL_CONFIG: dict[str, dict] = {
    "gan": {"latent_dim": 8, "mlp_hidden": 16},
    "dcgan": {"latent_dim": 8, "g_width": 8, "d_width": 8},
    "cgan": {"latent_dim": 8, "g_width": 8, "d_width": 8},
    "wgan-gp": {"latent_dim": 8, "g_width": 8, "d_width": 8, "n_critic": 2},
    "sngan": {"latent_dim": 8, "g_width": 8, "d_width": 8},
    "sagan": {"latent_dim": 8, "g_width": 8, "d_width": 8},
    "progan": {"latent_dim": 8, "width": 4, "max_width": 8},
    "stylegan": {"latent_dim": 8, "mapping_layers": 2, "width": 4, "max_width": 8, "r1_every": 2},
    "biggan": {"latent_dim": 9, "embed_dim": 4, "g_width": 4, "d_width": 4},
    "ae": {"latent_dim": 4, "width": 4},
    "vae": {"latent_dim": 4, "width": 4},
    "cvae": {"latent_dim": 4, "width": 4},
    "realnvp": {"levels": 2, "couplings": 1, "hidden": 8, "blocks": 0},
    "glow": {"levels": 2, "steps": 2, "hidden": 8},
    "pixelcnn": {"layers": 2, "hidden": 6, "kernel": 3, "head": 8},
    "ddpm": {"base_channels": 8, "channel_mults": "1,2", "timesteps": 100, "sample_steps": 4},
    "flow-matching": {"base_channels": 8, "channel_mults": "1,2", "sample_steps": 3, "preview_steps": 2},
    "vqvae": {"width": 4, "code_dim": 4, "codebook_size": 8},
    "transformer": {"layers": 1, "dim": 16, "heads": 2, "lr_warmup": 0},
    "ldm": {"first_stage_steps": 3, "first_stage_width": 4, "first_stage_latent": 2, "first_stage_codebook": 8,
            "base_channels": 8, "channel_mults": "1", "num_res_blocks": 1, "timesteps": 100, "sample_steps": 4,
            "preview_steps": 2},
    "style": {"width": 4, "res_blocks": 1},
    "ebm": {"width": 4, "buffer_size": 16, "sgld_steps": 2, "sample_steps": 3, "conditional": True},
}
