"""URL converters: HealthImaging data store and image set IDs are 32 lowercase hex-like characters."""


class HealthImagingIdConverter:
    regex = "[0-9a-z]{32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
