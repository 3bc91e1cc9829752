from . import ai_review_wizard, ai_summary_wizard
