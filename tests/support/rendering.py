"""Test helpers moved out of test_rendering.py, shared by the tests that need them."""

from digest.rendering import IssueView, ItemView

WALKING = ItemView(
    title="Walking 10 minutes after meals lowered blood sugar in people with type 2 diabetes",
    url="https://summaries.example.org/s/walking-after-meals",
    key_takeaway="Three short walks a day, each just after a meal, lowered blood sugar over 24 hours "
    "more than one 30-minute walk.",
    what_it_means="If you live with type 2 diabetes, a short stroll after eating is an easy habit to try.",
    study_type="Randomised crossover trial",
    evidence_level="Moderate",
    topics=("diabetes", "exercise"),
    journal="Diabetes Care",
    doi="10.5555/walking-after-meals",
    year=2026,
)


COFFEE = ItemView(
    title="Coffee & heart rhythm: <b>no</b> extra risk in Müller's cohort of 12 000 Zürich adults",
    url="https://summaries.example.org/s/coffee-rhythm?ref=digest&issue=12",
    key_takeaway="<script>alert('x')</script> is not a finding; this is: 2\u20133 cups a day did not raise "
    "the risk of atrial fibrillation, at ≥ 65 years too.",
    what_it_means="You need not give up your café au lait for your heart's rhythm; "
    "tell your doctor about palpitations.",
    study_type="Prospective cohort study",
)


VITAMIN_D = ItemView(
    title="Vitamin D₃ and falls — a 2-year trial in adults aged ≥ 65",
    url="https://summaries.example.org/s/vitamin-d3-falls",
    key_takeaway="A daily vitamin D pill did not cut falls.",
    what_it_means="Balance and strength exercises remain the better-supported option.",
)


ISSUE = IssueView(
    number=12,
    subject="3 new research summaries: Walking 10 minutes after meals lowered blood sugar",
    preheader="Three short walks a day, each just after a meal, lowered blood sugar over 24 hours.",
    date_label="23 November 2026",
    featured=(WALKING, COFFEE),
    more=(VITAMIN_D,),
    note="Welcome to issue 12 — thank you for reading.\n\n"
    "A reader asked whether <b>bold</b> claims & “miracle” cures get special treatment: they don't.",
)
