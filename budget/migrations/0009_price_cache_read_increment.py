from django.db import migrations, models

# OpenAI bills prompt-cache hits in increments of 128 tokens: `cached_tokens` is always a multiple of
# 128 (OpenAI cookbook, "Prompt Caching 201", for models before GPT-5.6). gpt-4o-mini's cached input
# is 75 nanodollars a token, 37.5 at half price: not whole per token, but 128 x 37.5 = 4,800 is, so
# its batch price is exact once the increment is known.
OPENAI_CACHE_INCREMENT = {"gpt-4o-mini": 128}


def set_increments(apps, schema_editor):
    Price = apps.get_model("budget", "Price")
    for model, tokens in OPENAI_CACHE_INCREMENT.items():
        Price.objects.filter(model__name=model).update(cache_read_increment_tokens=tokens)


def unset_increments(apps, schema_editor):
    Price = apps.get_model("budget", "Price")
    Price.objects.filter(model__name__in=OPENAI_CACHE_INCREMENT).update(cache_read_increment_tokens=1)


class Migration(migrations.Migration):

    dependencies = [
        ('budget', '0008_drop_ledger_functions'),
    ]

    operations = [
        migrations.AddField(
            model_name='price',
            name='cache_read_increment_tokens',
            field=models.PositiveIntegerField(default=1, help_text='Cache reads are billed in multiples of this many tokens (OpenAI: 128). A batch price is exact when the batch cache-read rate times this is a whole nanodollar.'),
        ),
        migrations.AddConstraint(
            model_name='price',
            constraint=models.CheckConstraint(condition=models.Q(('cache_read_increment_tokens__gte', 1)), name='cache_read_increment_at_least_1'),
        ),
        migrations.RunPython(set_increments, unset_increments),
    ]
