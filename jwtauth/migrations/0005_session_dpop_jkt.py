from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jwtauth', '0004_session_label'),
    ]

    operations = [
        migrations.AddField(
            model_name='tokensession',
            name='dpop_jkt',
            field=models.CharField(blank=True, max_length=43, verbose_name='DPoP key thumbprint'),
        ),
    ]
