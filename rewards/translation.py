"""The names staff enter per language (django-modeltranslation): each field below gets one
column per language (`name_en`, `name_sv`, `name_da`); reading `name` gives the active
language's, falling back to the program's default language (loyalty_engine.i18n)."""

from modeltranslation.translator import TranslationOptions, register

from rewards.models import EarnRule, Milestone, Program, Reward, Tier


@register(Program)
class ProgramTranslation(TranslationOptions):
    fields = ("name",)


@register(Tier)
class TierTranslation(TranslationOptions):
    fields = ("name", "benefits")


@register(Reward)
class RewardTranslation(TranslationOptions):
    fields = ("name", "description")


@register(Milestone)
class MilestoneTranslation(TranslationOptions):
    fields = ("name", "description")


@register(EarnRule)
class EarnRuleTranslation(TranslationOptions):
    fields = ("name",)
