from setuptools import find_packages, setup


def version():
    scope = {}
    with open('bpr/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='bpr',
    version=version(),
    description='Boundary Patch Refinement for instance segmentation (CVPR 2021), '
    'on mmsegmentation',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['bpr', 'bpr.*']),
    python_requires='>=3.8',
    # torch and mmcv-full (built with its ops) come from tools/install.sh
    install_requires=[
        'mmsegmentation==0.30.0', 'mmcls==0.25.0', 'numpy<2.4', 'opencv-python-headless',
        'pycocotools', 'cityscapesscripts', 'scipy', 'tqdm'
    ],
    zip_safe=False)
