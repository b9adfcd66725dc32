"""Payments' own records (decisions taken in the admin and their outcome in Stripe); what
Stripe holds (charges, payment methods, mandates, disputes, reviews) stays in the mirror."""
