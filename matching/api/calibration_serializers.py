"""Shapes of the calibration and false-alert budget API: separate input and output serializers."""

from __future__ import annotations

from rest_framework import serializers

from matching.models import AlertBudgetPolicy, CalibrationRecord


class CalibrationRecordListOut(serializers.ModelSerializer):
    ran_by = serializers.CharField(source="ran_by.username", read_only=True, default=None)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None)
    is_stale = serializers.BooleanField(read_only=True)
    measured_sizes = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = CalibrationRecord
        fields = [
            "id",
            "status",
            "is_stale",
            "engine_config",
            "engine_fingerprint",
            "dataset_path",
            "description",
            "dataset_hash",
            "identities",
            "images",
            "failed_images",
            "pairs",
            "measured_sizes",
            "budget_fpir",
            "policy_threshold",
            "ran_by",
            "ran_at",
            "approved_by",
            "approved_at",
            "retired_at",
        ]


class CalibrationRecordOut(CalibrationRecordListOut):
    class Meta(CalibrationRecordListOut.Meta):
        fields = [
            *CalibrationRecordListOut.Meta.fields,
            "seed",
            "failures",
            "verification",
            "identification",
            "operating_points",
            "groups",
        ]


class AlertBudgetOut(serializers.ModelSerializer):
    updated_by = serializers.CharField(source="updated_by.username", read_only=True, default=None)
    false_alerts_per_10k = serializers.FloatField(source="per_10k", read_only=True)

    class Meta:
        model = AlertBudgetPolicy
        fields = ["budget_fpir", "false_alerts_per_10k", "updated_by", "updated_at"]


class AlertBudgetIn(serializers.Serializer):
    budget_fpir = serializers.FloatField(help_text="Highest share of faces not on the list that may alert, e.g. 0.0001")


class ExpectedPerformanceIn(serializers.Serializer):
    watchlist_size = serializers.IntegerField(min_value=1)
    threshold = serializers.FloatField()
    policy = serializers.ChoiceField(choices=["threshold", "margin"], default="threshold")
    margin = serializers.FloatField(default=0.0, min_value=0.0)


class ExpectedPerformanceOut(serializers.Serializer):
    calibrated = serializers.BooleanField()
    expected_fpir = serializers.FloatField(allow_null=True)
    expected_tpir = serializers.FloatField(allow_null=True)
    false_alerts_per_10k = serializers.FloatField(allow_null=True)
    budget_fpir = serializers.FloatField()
    budget_met = serializers.BooleanField(allow_null=True)
    record_id = serializers.IntegerField(allow_null=True)
    how = serializers.ChoiceField(choices=["exact", "interpolated", "extrapolated", "uncalibrated"])
    message = serializers.CharField()
    fpir_upper_bound = serializers.FloatField(
        allow_null=True, help_text="The false-alert rate the calibration vouches for at LFR_BUDGET_CONFIDENCE."
    )
    non_mated_faces = serializers.IntegerField(
        allow_null=True, help_text="How many faces not on the list the calibration measured that rate on."
    )
