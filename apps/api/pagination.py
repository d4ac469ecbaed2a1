"""Page number paging that refuses what it can not read, instead of guessing.

DRF's own paging falls back to the default page size for a `page_size` it can not read, cuts
one that is too large down to the largest, and reads `page=last`: none of that is in the
schema, so a client's mistake would pass unnoticed. Here a `page` or `page_size` that is not a
whole number in range is a 400 beside its name; a page past the last is a 404, as in DRF.
"""

from rest_framework import pagination, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.api.schema import accepting_empty
from apps.core.numbers import MAX_DIGITS, positive_int


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        size = self._whole_number(
            request, self.page_size_query_param, self.max_page_size
        )
        return self.page_size if size is None else size

    def get_page_number(self, request: Request, paginator: object) -> int:
        raw = request.query_params.get(self.page_query_param, "")
        if raw.isascii() and raw.isdigit() and len(raw) > MAX_DIGITS:
            # Ten digits or more: past any last page (and past what int() reads).
            raise NotFound(self.invalid_page_message)
        return self._whole_number(request, self.page_query_param) or 1

    def _whole_number(
        self, request: Request, name: str, maximum: int | None = None
    ) -> int | None:
        """The parameter's value, None when it is left out or empty."""
        raw = request.query_params.get(name, "")
        if raw == "":
            return None
        number = positive_int(raw, **({"maximum": maximum} if maximum else {}))
        if number is None:
            upto = f" to {maximum}" if maximum is not None else " or more"
            raise serializers.ValidationError(
                {name: [f"Enter a whole number from 1{upto}."]}
            )
        return number

    def get_schema_operation_parameters(self, view: APIView) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            schema = {**parameter["schema"], **bounds.get(parameter["name"], {})}
            parameter["schema"] = accepting_empty(schema)
        return parameters
