"""Services et outils: teleconsultation, health directory, assistance, Kalixia network, prevention."""
