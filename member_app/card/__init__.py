"""Ma carte Mutuelle and Attestation: the documents of cover on screen, as PDF, and sent by e-mail."""
