"""What only the authors know, for the reporting checklists (TRIPOD+AI, CLAIM, METRICS).

Every field is optional free text, quoted as written in the checklist tables; a field left
empty leaves its items marked *authors must fill*. The description of each field names the
checklist items it answers, so a user filling the config knows what a reviewer will look
for. Kept apart from :mod:`sonomics.config`, which imports it, so that each stays small.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReportingConfig(BaseModel):
    """Study facts that no computation can find (design, dates, ethics, sharing, ...)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    study_design: str | None = Field(
        None, description="e.g. 'retrospective diagnostic accuracy study, consecutive "
        "patients' (CLAIM 5, 6)")
    setting: str | None = Field(
        None, description="centres, country, level of care where the data come from "
        "(TRIPOD+AI 5a, 6a; CLAIM 7; METRICS 4)")
    data_collection_dates: str | None = Field(
        None, description="start and end of data collection, e.g. '2015-01 to 2022-12' "
        "(TRIPOD+AI 5b)")
    eligibility: str | None = Field(
        None, description="inclusion and exclusion criteria of patients and images "
        "(TRIPOD+AI 6b; CLAIM 8; METRICS 2)")
    treatments: str | None = Field(
        None, description="treatments received, if relevant to the prediction "
        "(TRIPOD+AI 6c)")
    imaging_protocol: str | None = Field(
        None, description="scanners, probes, acquisition settings of the images "
        "(CLAIM 13; METRICS 5, 6)")
    reference_standard: str | None = Field(
        None, description="how benign/malignant was established (histopathology, "
        "follow-up, ...), who assessed it (qualifications), whether blinded to the images, "
        "and why this standard (TRIPOD+AI 8a-8c; CLAIM 14, 15; METRICS 3, 7)")
    annotators: str | None = Field(
        None, description="who drew the lesion masks, their experience, blinding to the "
        "outcome (TRIPOD+AI 9b, 9c; CLAIM 16, 17; METRICS 8)")
    predictor_blinding: str | None = Field(
        None, description="whether predictors were assessed without knowledge of the "
        "outcome (TRIPOD+AI 9b)")
    deidentification: str | None = Field(
        None, description="how the images and data were de-identified (CLAIM 11)")
    intended_use: str | None = Field(
        None, description="the intended use and users of the model and where in the care "
        "pathway it would be used (TRIPOD+AI 3b; CLAIM 3, 41)")
    ethics: str | None = Field(
        None, description="name of the ethics committee, approval number, consent "
        "(TRIPOD+AI 17)")
    funding: str | None = Field(None, description="sources of funding and their role "
                                "(TRIPOD+AI 18a; CLAIM 44)")
    conflicts_of_interest: str | None = Field(
        None, description="declarations of interest (TRIPOD+AI 18b)")
    protocol: str | None = Field(
        None, description="where the study protocol can be read, or that there is none "
        "(TRIPOD+AI 18c; CLAIM 42)")
    registration: str | None = Field(
        None, description="study registration (registry and number) or that it was not "
        "registered (TRIPOD+AI 18d; CLAIM 34)")
    data_sharing: str | None = Field(
        None, description="whether and how the data are available (TRIPOD+AI 18e; "
        "CLAIM 43; METRICS 28)")
    code_sharing: str | None = Field(
        None, description="where the study's config and scripts are published; sonomics "
        "itself is open source (TRIPOD+AI 18f; CLAIM 43; METRICS 29, 30)")
    patient_involvement: str | None = Field(
        None, description="patient and public involvement, or that there was none "
        "(TRIPOD+AI 19)")
    fairness: str | None = Field(
        None, description="subgroups in which performance was examined (age, device, "
        "centre, ...) and what was found (TRIPOD+AI 14)")
