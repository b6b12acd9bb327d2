"""No page or endpoint here takes a file upload.

Django holds the fields of a multipart body to DATA_UPLOAD_MAX_MEMORY_SIZE but
streams its files to memory or to temporary files, however large. The one upload
handler installed instead refuses a multipart body over that limit before
reading it, as a body of any other type is, and skips any file inside a smaller
one unread.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class NoFiles(FileUploadHandler):
    def handle_raw_input(
        self, input_data, META, content_length, boundary, encoding=None
    ):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and content_length > limit:
            raise RequestDataTooBig(
                "Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE."
            )

    def new_file(self, *args, **kwargs):
        raise SkipFile

    def receive_data_chunk(self, raw_data, start):
        return None

    def file_complete(self, file_size):
        return None
