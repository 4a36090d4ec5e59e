"""SRR: the auxiliary loss (pure torch) and the PPO learner that adds it."""
