"""Test helpers moved out of test_rendering.py, shared by the tests that need them."""

from dataclasses import replace

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
    key_takeaway="2\u20133 cups a day did not raise the risk of <i>atrial fibrillation</i>, at ≥ 65 years "
    "too<script>alert('x')</script>; 10<sup>4</sup> person-years <a href='javascript:alert(1)'>of data</a>.",
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


# The same issue for a Spanish list (DIGEST_LANGUAGE=es): summaries written in Spanish, the date in Spanish.
PASEOS = ItemView(
    title="Caminar diez minutos después de comer bajó el azúcar en sangre en personas con diabetes tipo 2",
    url="https://summaries.example.org/s/paseos-despues-de-comer",
    key_takeaway="Tres paseos cortos al día, cada uno justo después de una comida, bajaron la glucosa de "
    "24 horas más que un único paseo de 30 minutos.",
    what_it_means="Si vive con diabetes tipo 2, un paseo corto después de comer es un hábito fácil de "
    "probar.",
    study_type="Ensayo cruzado aleatorizado",
    evidence_level="Moderada",
    topics=("diabetes", "ejercicio"),
    journal="Diabetes Care",
    doi="10.5555/walking-after-meals",
    year=2026,
)


CAFE = ItemView(
    title="Café y ritmo cardiaco: sin riesgo añadido en una cohorte de 12 000 adultos de Zúrich",
    url="https://summaries.example.org/s/cafe-ritmo",
    key_takeaway="Tomar de 2 a 3 tazas al día no aumentó el riesgo de fibrilación auricular, tampoco a "
    "partir de los 65 años.",
    what_it_means="No hace falta renunciar al café con leche por el ritmo del corazón; si nota "
    "palpitaciones, coménteselo a su médico.",
    study_type="Estudio de cohortes prospectivo",
    evidence_level="Baja",
)


VITAMINA_D = ItemView(
    title="Vitamina D₃ y caídas: un ensayo de 2 años en mayores de 65",
    url="https://summaries.example.org/s/vitamina-d3-caidas",
    key_takeaway="Una pastilla diaria de vitamina D no redujo las caídas.",
    what_it_means="Los ejercicios de equilibrio y fuerza siguen siendo la opción mejor respaldada.",
)


def spanish_issue() -> IssueView:
    from datetime import date

    from digest.i18n import language

    return IssueView(
        number=12,
        subject="Caminar diez minutos después de comer bajó el azúcar en sangre, y 2 más",
        preheader="Además: Café y ritmo cardiaco; Vitamina D₃ y caídas",
        date_label=language("es").date(date(2026, 11, 23)),
        featured=(PASEOS, CAFE),
        more=(VITAMINA_D,),
        note="Bienvenidos al número 12; gracias por leernos.",
    )


# Right-to-left summaries: each item lays out by its own words' direction, whatever the list's language.
ARABIC = ItemView(
    title="المشي بعد الوجبات خفّض سكر الدم لدى مرضى السكري من النوع الثاني",
    url="https://summaries.example.org/s/walking-after-meals-ar",
    key_takeaway="ثلاث نزهات قصيرة يومياً بعد الأكل خفّضت سكر الدم أكثر من نزهة واحدة مدتها 30 دقيقة.",
    what_it_means="إذا كنت مصاباً بالسكري، فالمشي القصير بعد الطعام عادة سهلة تستحق التجربة.",
    study_type="تجربة عشوائية",
    evidence_level="Moderate",
    topics=("diabetes",),
    journal="Diabetes Care",
    doi="10.5555/walking-after-meals-ar",
    year=2026,
)

HEBREW = ItemView(
    title="<i>APOE4</i>: פעילות גופנית קשורה לזיכרון טוב יותר אצל נשאים",
    url="https://summaries.example.org/s/apoe4-exercise-he",
    key_takeaway="נשאים פעילים של הגן <i>APOE4</i> השיגו ציונים גבוהים יותר במבחני זיכרון.",
    what_it_means="פעילות גופנית טובה מסיבות רבות, וייתכן שחשובה עוד יותר אם יש דמנציה במשפחה.",
    study_type="סקר חתך",
    evidence_level="Low",
)

RTL_ISSUE = IssueView(
    number=13,
    subject="Right-to-left summaries",
    preheader="Two summaries in Arabic and Hebrew, one in English.",
    date_label="30 November 2026",
    featured=(ARABIC, WALKING, HEBREW),
    more=(replace(ARABIC, title="فيتامين د والسقوط لدى كبار السن"), VITAMIN_D),
)
